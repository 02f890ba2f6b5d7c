/// The PostgreSQL schema, as numbered migrations (DESIGN.md beside this file explains the tables).
///
/// A migration is applied once, in order, in the same transaction as the row of `schema_version` that records
/// it, so a database is at one version or the one before, never between. Add a migration at the end; never
/// change one that was released.
enum Schema {
    /// One step from `version - 1` to `version`.
    struct Migration: Sendable {
        var version: Int
        var statements: [String]
    }

    /// The tables keyed like the LMDB backend's databases (bytea keys compare bytewise, as LMDB's do): the
    /// table name for each.
    enum Table: String, CaseIterable, Sendable {
        case subjects
        case records
        case attachments
        case furnisherIndex = "index_furnisher"
        case retentionIndex = "index_retention"
        case listIndex = "index_lists"
        case queryIndex = "index_queries"
        case batches
        case consents
        case protections
        case quotas
        case revoked
        case anomalies
        case selfQueries = "self_queries"
        case disputes
        case disputeIndex = "index_disputes"
        case tombstones
        case repairs
        case institutions
        case certificates
        case meta
    }

    static let migrations: [Migration] = [
        Migration(
            version: 1,
            statements: Table.allCases.map { "CREATE TABLE \($0.rawValue) (key bytea PRIMARY KEY, value bytea NOT NULL)" } + [
                // The log: entries, the RFC 6962 tree (level 0: leaf hashes), and its head, one row whose lock
                // every write transaction takes first, so that writers from every node append one at a time.
                "CREATE TABLE log_entries (idx bigint PRIMARY KEY CHECK (idx >= 0), entry bytea NOT NULL)",
                "CREATE TABLE log_tree (level smallint NOT NULL CHECK (level >= 0), idx bigint NOT NULL CHECK (idx >= 0), hash bytea NOT NULL, PRIMARY KEY (level, idx))",
                "CREATE TABLE log_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), size bigint NOT NULL CHECK (size >= 0))",
                "INSERT INTO log_head (one, size) VALUES (true, 0)",
            ]
        ),
        Migration(
            version: 2,
            statements: [
                // The data keys (scope id + key id) of committed deletions not yet known to be destroyed: written in
                // the deletion's own transaction, swept at start (`PostgresStorage.sweepShredded`).
                "CREATE TABLE shredding (key bytea PRIMARY KEY)"
            ]
        ),
    ]

    /// The version this build reads and writes.
    static var current: Int { migrations.last!.version }
}
