public import BureauStore
import NIOCore
import NIOPosix

/// How bureaud's process runs its work on threads.
public enum DaemonThreads {
    /// Makes NIO's event loops (the threads that read and write the connections, one a core) Swift concurrency's
    /// global executor too, so that a request's handler runs on the thread that read the request and the answer
    /// is written from there, instead of each request hopping to Swift's own thread pool and back. On a
    /// request that comes alone, each hop wakes a sleeping thread; measured with `bureau bench report` at a third
    /// of peak load, bureaud's threads switched 14-17 times per ping and 18-24 per audited report before, 2 and
    /// 4-10 after.
    ///
    /// Only for a store whose calls never wait on a NIO future (LMDB): the PostgreSQL store waits on its
    /// connections' futures, which NIO refuses on an event loop. Call it first thing on the main thread, before any
    /// task runs, and once per process.
    ///
    /// - Returns: whether the event loops now run the tasks.
    @discardableResult
    public static func runTasksOnEventLoops() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// The event loop the calling thread runs, for ``GroupCommitWriter`` to resume a request there; nil on any
    /// other thread (bureaud's tasks on Swift's own pool, with PostgreSQL or in tests).
    @Sendable
    public static func submittingLoop() -> GroupCommitWriter.SubmittingLoop? {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return nil }
        return (ObjectIdentifier(loop), { work in loop.execute(work) })
    }
}
