import Foundation

/// Hides secrets before text reaches a log line, an error or the CLI.
///
/// Connection URLs carry passwords (`redis://:secret@host`, `amqp://user:secret@host`):
/// ``redactingURLPasswords(in:)`` replaces the password part of every such URL in a text
/// with `***`, wherever it appears.
public enum Redaction {
    /// The placeholder that replaces a secret.
    public static let placeholder = "***"

    /// `text` with the password of every `scheme://user:password@` occurrence replaced by
    /// `***`. Text without credentials is returned unchanged.
    ///
    /// A URL in free text ends at whitespace, a quote or the end of the text; its
    /// credentials end at the LAST `@` before that, so a password containing an unencoded
    /// `/`, `?`, `#` or `@` is still hidden (at worst more than the password is hidden).
    public static func redactingURLPasswords(in text: String) -> String {
        var output = ""
        var rest = Substring(text)
        while let schemeEnd = rest.range(of: "://") {
            output += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            let tokenEnd = rest.firstIndex { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == "`" } ?? rest.endIndex
            output += redactingCredentials(in: rest[..<tokenEnd])
            rest = rest[tokenEnd...]
        }
        return output + rest
    }

    /// One URL (as configured, possibly malformed, possibly with whitespace in it) with the
    /// password replaced by `***`: everything between the first `:` after `scheme://` and the
    /// last `@` of the whole text.
    public static func redactedURL(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else {
            // Not a URL at all: it may still be a bare secret; show nothing of it.
            return url.contains("@") ? placeholder : url
        }
        return String(url[..<schemeEnd.upperBound]) + redactingCredentials(in: url[schemeEnd.upperBound...])
    }

    /// `user:password@rest` → `user:***@rest`; text without `@` or without `:` before it is
    /// returned unchanged.
    private static func redactingCredentials(in afterScheme: Substring) -> String {
        guard let at = afterScheme.lastIndex(of: "@") else { return String(afterScheme) }
        let userInfo = afterScheme[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return String(afterScheme) }
        return String(userInfo[..<colon]) + ":" + placeholder + String(afterScheme[at...])
    }

    /// `text` with every occurrence of each non-empty secret replaced by `***`.
    public static func redacting(_ secrets: [String], in text: String) -> String {
        var result = text
        for secret in secrets where !secret.isEmpty {
            result = result.replacingAll(secret, with: placeholder)
        }
        return result
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var output = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            output += rest[..<range.lowerBound]
            output += replacement
            rest = rest[range.upperBound...]
        }
        return output + rest
    }
}
