import Foundation

/// CSV for exports a spreadsheet may open: each cell escaped against formula injection.
public enum CSV {
    /// One CSV cell. A cell a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR)
    /// gets a leading single quote and quotes (OWASP CSV injection); a comma, quote, LF or CR is quoted.
    public static func cell(_ field: String) -> String {
        let formula = field.unicodeScalars.first.map { "=+-@\t\r".unicodeScalars.contains($0) } ?? false
        let cell = formula ? "'" + field : field
        guard formula || cell.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return cell
        }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One CSV line (with its LF) of `fields`, each escaped by ``cell(_:)``.
    public static func line(_ fields: [String]) -> String {
        fields.map(cell).joined(separator: ",") + "\n"
    }
}
