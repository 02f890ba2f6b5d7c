import ArgumentParser
import BureauServer

// Parsed before any task runs, so that the tasks can be put on the event loops first (see DaemonThreads).
do {
    let command = try Bureaud.parse()
    if command.storeNeverWaitsOnEventLoops {
        DaemonThreads.runTasksOnEventLoops()
    }
    try await command.run()
} catch {
    Bureaud.exit(withError: error)
}
