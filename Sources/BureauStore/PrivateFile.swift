import BureauCore
public import Foundation

/// Files that hold data or keys: mode 0600 from the moment they exist, whatever the process's umask.
public enum PrivateFile {
    /// Writes `data` to `path` atomically (a new file of mode 0600, renamed over `path`), replacing what was there.
    /// - Throws: ``BureauError`` (internal) naming the path when the file cannot be written.
    public static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw BureauError(.internal, "cannot write \(path): \(String(cString: strerror(errno)))") }
        do {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            unlink(temporary)
            throw BureauError(.internal, "cannot write \(path): \(error)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw BureauError(.internal, "cannot write \(path): \(reason)")
        }
    }
}
