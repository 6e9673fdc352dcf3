import Testing
public func supportCheck(_ x: Int) { #expect(x == 1) }
