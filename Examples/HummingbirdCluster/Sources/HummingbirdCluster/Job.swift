import Foundation

/// A unit of work posted with `POST /jobs` and run by one instance's ``JobWorker``.
struct Job: Codable, Sendable {
    /// A snowflake ID from the posting instance.
    var id: String
    var payload: String
    /// The node ID of the instance that accepted the job.
    var postedBy: String

    /// The queue the jobs travel on.
    static let queue = "jobs"

    func encoded() throws -> [UInt8] {
        Array(try JSONEncoder().encode(self))
    }

    static func decode(_ bytes: [UInt8]) throws -> Job {
        try JSONDecoder().decode(Job.self, from: Data(bytes))
    }
}
