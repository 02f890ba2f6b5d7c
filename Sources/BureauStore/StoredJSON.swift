public import Foundation

/// The JSON encoding of the small stored values (institutions, the catalogue, consents, protections,
/// disputes, repairs, anomalies), shared by every backend so that each stores the same bytes.
public enum StoredJSON {
    /// The value's JSON, keys sorted.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    /// Decodes a value stored by ``encode(_:)``.
    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Decodes a value stored by ``encode(_:)``.
    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}
