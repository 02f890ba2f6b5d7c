import BureauAPI
import BureauCore
import Foundation
import Testing

@testable import bureau

@Suite("Log export")
struct ExportTests {
    static func logged(reason: String, institution: String = "91110000100000016D", operatorID: String = "") -> Bureau_LogEntry {
        let entry = AccessLogEntry(
            .report(.individual), by: LogActor(institution: institution, certificateFingerprint: "ab", operatorID: operatorID),
            time: Date(timeIntervalSince1970: 1_800_000_000), requestID: "r-1", outcome: .denied, reason: reason
        )
        var wire = Bureau_LogEntry()
        wire.index = 7
        wire.canonical = Data(entry.canonicalBytes())
        wire.leafHash = Data(Merkle.leafHash(entry.canonicalBytes()))
        return wire
    }

    /// The CSV line of `wire`, its entry decoded as the export decodes it (no references to resolve here).
    static func csv(_ wire: Bureau_LogEntry) throws -> String {
        Log.Export.csvLine(wire, try AccessLogEntry(canonicalBytes: Array(wire.canonical)))
    }

    /// The CSV cells of one line (quoted cells unquoted), split the way a spreadsheet reads them.
    static func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var cell = ""
        var quoted = false
        var iterator = Array(line.dropLast()).makeIterator()
        var previousQuote = false
        while let c = iterator.next() {
            if quoted {
                if c == "\"" { quoted = false; previousQuote = true; continue }
                cell.append(c)
            } else if c == "\"" {
                if previousQuote { cell.append("\"") }
                quoted = true
            } else if c == "," {
                cells.append(cell)
                cell = ""
            } else {
                cell.append(c)
            }
            previousQuote = false
        }
        cells.append(cell)
        return cells
    }

    @Test(
        "a logged text that a spreadsheet would run as a formula is exported inert",
        arguments: ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    )
    func formulaCellsAreEscaped(_ text: String) throws {
        let line = try Self.csv(Self.logged(reason: text, operatorID: text))
        let cells = Self.cells(line)
        #expect(cells.count == Log.Export.columns.count)
        let reason = cells[Log.Export.columns.firstIndex(of: "reason")!]
        let operatorID = cells[Log.Export.columns.firstIndex(of: "operator_id")!]
        #expect(reason == "'" + text)
        #expect(operatorID == "'" + text)
        // Quoted, so that the prefixed cell stays one cell.
        #expect(line.contains("\"'" + text.prefix(1)))
    }

    @Test("a carriage return inside a cell is quoted")
    func carriageReturnIsQuoted() throws {
        let line = try Self.csv(Self.logged(reason: "one\rtwo"))
        #expect(line.contains("\"one\rtwo\""))
    }

    @Test("plain cells are unchanged")
    func plainCells() throws {
        let line = try Self.csv(Self.logged(reason: "no consent on file"))
        let cells = Self.cells(line)
        #expect(cells[Log.Export.columns.firstIndex(of: "reason")!] == "no consent on file")
        #expect(cells[Log.Export.columns.firstIndex(of: "outcome")!] == "denied")
        #expect(cells[0] == "7")
    }
}
