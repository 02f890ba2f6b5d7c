public import BureauCore
public import BureauStore

extension CheckpointKey {
    /// Checks that `signer` is the key that signs `store`'s checkpoints, before anything is served: the first start
    /// on a store records the key's verifier key in it; every later start, on every node sharing the store, must
    /// bring the same key. A node with another `checkpoint.key` would sign a different checkpoint for the same tree
    /// size, which a regulator holding both would take for a forked log.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming both verifier keys and the fix, when they differ;
    ///   storage errors.
    public static func bind(_ signer: NoteSigner, to store: Store) throws {
        let mine = signer.verifierKey
        if let recorded = try store.read({ try $0.checkpointVerifierKey() }) {
            try Self.check(mine, recorded, store: store)
            return
        }
        // Two nodes starting at once: the write transactions are ordered, the second one finds the first's key.
        try store.write { txn in
            if let recorded = try txn.checkpointVerifierKey() {
                try Self.check(mine, recorded, store: store)
            } else {
                try txn.putCheckpointVerifierKey(mine)
            }
        }
    }

    private static func check(_ mine: String, _ recorded: String, store: Store) throws {
        guard mine == recorded else {
            throw BureauError(
                .failedPrecondition,
                "\(Self.fileName) in \(store.folder) signs checkpoints as \(mine), but this store's checkpoints are signed by \(recorded): "
                    + "every bureaud node of one store must be given the same \(Self.fileName) (copy it from a node's data folder)"
            )
        }
    }
}
