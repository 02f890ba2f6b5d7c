import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress bar on standard error: redrawn in place on a terminal, a line every tenth otherwise.
struct ProgressBar {
    let total: Int
    let label: String
    private let interactive = isatty(2) == 1
    private var lastTenth = -1
    private let started = ContinuousClock.now

    init(total: Int, label: String) {
        self.total = max(1, total)
        self.label = label
    }

    mutating func update(_ done: Int) {
        let fraction = min(1, Double(done) / Double(self.total))
        let tenth = Int(fraction * 10)
        if !self.interactive {
            guard tenth != self.lastTenth else { return }
            self.lastTenth = tenth
        }
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let elapsed = (ContinuousClock.now - self.started).components.seconds
        let text = "\(self.label) [\(bar)] \(Int(fraction * 100))%  \(elapsed)s"
        FileHandle.standardError.write(Data((self.interactive ? "\r" + text : text + "\n").utf8))
    }

    func finish() {
        if self.interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
