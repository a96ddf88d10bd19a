/// A configuration problem found at startup. The message names the variable and the bad
/// value (URLs with the password replaced by `***`) and says what is accepted.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A selector names an adapter nobody registered.
        public static let unknownAdapter = Code("unknownAdapter")
        /// A value does not have the required form (not a number, out of range, bad name).
        public static let invalidValue = Code("invalidValue")
        /// A connection URL is malformed.
        public static let invalidURL = Code("invalidURL")
        /// The `.env` file exists but cannot be read.
        public static let unreadableFile = Code("unreadableFile")
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = Redaction.redactingURLPasswords(in: message)
    }

    public var description: String { message }

    static func unknownAdapter(variable: String, value: String, valid: [String], module: String?) -> ConfigurationError {
        var message = "\(variable)=\(value) is not a registered adapter; valid values: \(valid.joined(separator: ", "))"
        if let module {
            message += ". The '\(value.lowercased())' adapter is provided by the \(module) module: link it and register its adapters"
        }
        return ConfigurationError(code: .unknownAdapter, message: message)
    }

    static func invalidValue(variable: String, value: String, expected: String) -> ConfigurationError {
        ConfigurationError(code: .invalidValue, message: "\(variable)=\(value) is invalid: expected \(expected)")
    }

    static func invalidURL(_ url: String, variable: String?, reason: String) -> ConfigurationError {
        let origin = variable.map { "\($0)=" } ?? ""
        return ConfigurationError(code: .invalidURL, message: "\(origin)\(Redaction.redactedURL(url)) is not a valid URL: \(reason)")
    }
}
