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
    public static func redactingURLPasswords(in text: String) -> String {
        var output = ""
        var rest = Substring(text)
        while let schemeEnd = rest.range(of: "://") {
            output += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            // The authority ends at the first '/', '?', '#' or whitespace; credentials end at
            // the last '@' inside it (a password may itself contain '@' when not encoded).
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" || $0 == " " || $0 == "\n" || $0 == "\"" || $0 == "'" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                if let colon = userInfo.firstIndex(of: ":") {
                    output += userInfo[..<colon] + ":" + placeholder
                } else {
                    output += userInfo
                }
                output += authority[at...]
            } else {
                output += authority
            }
            rest = rest[authorityEnd...]
        }
        return output + rest
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
