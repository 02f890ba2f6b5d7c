import BureauCore
import Crypto
import Foundation
import Testing

/// The RFC 6962 vectors of transparency-dev/merkle (Tests/vectors/merkle, Apache 2.0).
enum Vectors {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("vectors/merkle")

    static func files(_ kind: String) -> [URL] {
        let root = folder.appendingPathComponent(kind)
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        return (enumerator?.allObjects as? [URL] ?? []).filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }

    struct Inclusion: Decodable {
        var leafIdx: UInt64
        var treeSize: UInt64
        var root: Data?
        var leafHash: Data?
        var proof: [Data]?
        var wantErr: Bool
    }

    struct Consistency: Decodable {
        var size1: UInt64
        var size2: UInt64
        var root1: Data?
        var root2: Data?
        var proof: [Data]?
        var wantErr: Bool
    }
}

@Suite("RFC 6962 proofs")
struct MerkleTests {
    @Test("the inclusion verifier accepts and rejects every vector as it should")
    func inclusionVectors() throws {
        let files = Vectors.files("inclusion")
        #expect(files.count > 20)
        for file in files {
            let v = try JSONDecoder().decode(Vectors.Inclusion.self, from: Data(contentsOf: file))
            var failure: Merkle.ProofError?
            do {
                try Merkle.verifyInclusion(
                    index: v.leafIdx, size: v.treeSize, leafHash: Array(v.leafHash ?? Data()),
                    proof: (v.proof ?? []).map(Array.init), root: Array(v.root ?? Data())
                )
            } catch {
                failure = error
            }
            #expect((failure != nil) == v.wantErr, "\(file.lastPathComponent) in \(file.deletingLastPathComponent().lastPathComponent): \(String(describing: failure))")
        }
    }

    @Test("the consistency verifier accepts and rejects every vector as it should")
    func consistencyVectors() throws {
        let files = Vectors.files("consistency")
        #expect(files.count > 20)
        for file in files {
            let v = try JSONDecoder().decode(Vectors.Consistency.self, from: Data(contentsOf: file))
            var failure: Merkle.ProofError?
            do {
                try Merkle.verifyConsistency(
                    size1: v.size1, size2: v.size2, root1: Array(v.root1 ?? Data()), root2: Array(v.root2 ?? Data()),
                    proof: (v.proof ?? []).map(Array.init)
                )
            } catch {
                failure = error
            }
            #expect((failure != nil) == v.wantErr, "\(file.lastPathComponent) in \(file.deletingLastPathComponent().lastPathComponent): \(String(describing: failure))")
        }
    }

    @Test("proofs made from stored subtrees verify for every index and size up to 40")
    func generatedProofs() throws {
        let leaves = (0..<40).map { Merkle.leafHash([UInt8]("entry \($0)".utf8)) }
        // Complete subtrees as a store keeps them.
        var nodes: [String: [UInt8]] = [:]
        for (i, leaf) in leaves.enumerated() {
            nodes["0/\(i)"] = leaf
            var level = 0, index = i, hash = leaf
            while index & 1 == 1 {
                hash = Merkle.nodeHash(nodes["\(level)/\(index - 1)"]!, hash)
                level += 1
                index >>= 1
                nodes["\(level)/\(index)"] = hash
            }
        }
        let reader = MerkleTreeReader<Never> { level, index in nodes["\(level)/\(index)"]! }
        for size in 1...UInt64(leaves.count) {
            let root = reader.root(size: size)
            #expect(root == Merkle.root(of: leaves[0..<Int(size)]))
            for index in 0..<size {
                try Merkle.verifyInclusion(index: index, size: size, leafHash: leaves[Int(index)],
                                           proof: reader.inclusionProof(index: index, size: size), root: root)
            }
            for size1 in 1...size {
                try Merkle.verifyConsistency(size1: size1, size2: size, root1: reader.root(size: size1), root2: root,
                                             proof: reader.consistencyProof(size1: size1, size2: size))
            }
        }
    }
}

@Suite("Signed checkpoints")
struct CheckpointTests {
    @Test("checkpoints signed with any key verify with its verifier key and nothing else")
    func signAndVerify() throws {
        let checkpoint = Checkpoint(origin: "bureau.local/access-log", size: 42, root: Merkle.leafHash([1, 2, 3]))
        for _ in 0..<50 {
            let signer = NoteSigner(name: checkpoint.origin, key: .init())
            let note = try signer.sign(checkpoint.body)
            #expect(note.hasPrefix("bureau.local/access-log\n42\n"))
            #expect(note.contains("\n\n\u{2014} bureau.local/access-log "))
            let verifier = try NoteVerifier(verifierKey: signer.verifierKey)
            #expect(try Checkpoint(body: verifier.verify(note: note)) == checkpoint)
            let other = try NoteVerifier(verifierKey: NoteSigner(name: checkpoint.origin, key: .init()).verifierKey)
            #expect(throws: Merkle.ProofError.self) { _ = try other.verify(note: note) }
            #expect(throws: Merkle.ProofError.self) { _ = try verifier.verify(note: note.replacingOccurrences(of: "\n42\n", with: "\n43\n")) }
        }
    }

    @Test("a malformed verifier key is refused")
    func badKeys() {
        for key in ["", "name", "name+zz+AAAA", "name+84b79761+AAAA"] {
            #expect(throws: Merkle.ProofError.self) { _ = try NoteVerifier(verifierKey: key) }
        }
    }
}
