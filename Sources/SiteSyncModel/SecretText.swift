/// Text that may carry a secret, as it may be shown.
public enum SecretText {
    /// A location with any password in it replaced by `***`: `postgres://user:***@host/db`, also when the URL is
    /// written wrong (`postgres:/user:pw@host`, `user:pw@host/db`). The user information is taken to end at the
    /// last `@`, so a password holding `@`, `:`, `/` or `#` is hidden whole (too much is hidden rather than too
    /// little).
    public static func redactingPassword(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        var start = text.startIndex
        if let r = text.range(of: "://"), r.upperBound <= at {
            start = r.upperBound
        } else if let r = text.range(of: ":/"), r.upperBound <= at {
            start = r.upperBound
            while start < at && text[start] == "/" { start = text.index(after: start) }
        }
        let userInfo = text[start..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[...colon]) + "***" + String(text[at...])
    }

    /// Whether a location is a URL written wrong rather than a file name: a scheme of two letters or more followed
    /// by `:/` (not `://`), or user information before an `@` (`user:password@host/…`).
    public static func looksLikeMalformedURL(_ text: String) -> Bool {
        if let colon = text.firstIndex(of: ":"), text.distance(from: text.startIndex, to: colon) >= 2,
           text[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || "+.-".contains($0) }), text[..<colon].first?.isLetter == true,
           text[colon...].hasPrefix(":/"), !text[colon...].hasPrefix("://") {
            return true
        }
        if let at = text.firstIndex(of: "@"), let colon = text[..<at].firstIndex(of: ":"), !text[..<colon].contains("/") {
            return true
        }
        return false
    }
}
