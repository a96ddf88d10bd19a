import ClusterKit
import Hummingbird

/// Turns ClusterKit's errors into HTTP answers with their message (ClusterKit's messages
/// never contain secrets): a lock that could not be had in time or a node without a
/// worker ID is 503 (try again, perhaps elsewhere); other cluster errors are 502 (the
/// backend failed). Errors that already are HTTP errors pass through; anything else is
/// logged and becomes Hummingbird's plain 500.
struct ClusterErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPResponseError {
            throw error
        } catch let error as LockError where error.code == .timedOut {
            throw HTTPError(.serviceUnavailable, message: error.message)
        } catch let error as SnowflakeError where error.code == .noWorkerID {
            throw HTTPError(.serviceUnavailable, message: error.message)
        } catch let error as LockError {
            throw reported(error, context: context)
        } catch let error as CacheError {
            throw reported(error, context: context)
        } catch let error as PubSubError {
            throw reported(error, context: context)
        } catch let error as QueueError {
            throw reported(error, context: context)
        } catch let error as SnowflakeError {
            throw reported(error, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    private func reported(_ error: some Error & CustomStringConvertible, context: Context) -> HTTPError {
        context.logger.error("cluster operation failed", metadata: ["error": "\(error)"])
        return HTTPError(.badGateway, message: "\(error)")
    }
}
