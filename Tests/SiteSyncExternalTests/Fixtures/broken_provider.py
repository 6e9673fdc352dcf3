#!/usr/bin/env python3
"""The template provider, broken on purpose by `options.mode`: the fault tests' misbehaving program."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples", "providers", "template"))
import folder_provider as template  # noqa: E402

mode = sys.argv[1] if len(sys.argv) > 1 else ""


class Broken(template.Storage):
    def __init__(self, options):
        global mode
        mode = options.get("mode", mode)
        if options.get("password"):
            # A careless provider repeating its secret: SiteSync must hide it wherever it repeats the words.
            template.log(f"logging in with password {options['password']}")
        self.options_password = options.get("password")
        super().__init__(options)

    def hello(self):
        h = super().hello()
        if mode == "old_protocol":
            h["protocol"] = 2
        if mode == "wrong_hash":
            h["capabilities"]["hash"] = "sha256"
        return h

    def stat(self, path):
        if mode == "garbage_on_stat":
            sys.stdout.write("Traceback (most recent call last): not JSON at all\n")
            sys.stdout.flush()
        return super().stat(path)

    def put(self, path, local, size, sha256, progress, pace):
        once = mode == "crash_once_on_put" and ".sitesync-check-" not in path and not os.path.exists(self.base + "/.crashed")
        if mode == "crash_on_put" or once:
            open(self.base + "/.crashed", "w").close()
            with open(self.real(path), "wb") as out:
                out.write(b"half a file")
            template.log("segmentation fault (pretend)")
            os._exit(3)
        if mode == "hang_on_put":
            time.sleep(3600)
        if mode == "refuse_with_secret":
            raise template.Failure("configuration", f"the server refused password {self.options_password}")
        result = super().put(path, local, size, sha256, progress, pace)
        if mode == "wrong_hash":
            result["hash"] = "0" * 64
        return result


if mode == "exit_at_hello":
    template.log("ModuleNotFoundError: No module named 'boto3'")
    sys.exit(1)
template.Storage = Broken
template.main()
