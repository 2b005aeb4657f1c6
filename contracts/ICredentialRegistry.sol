// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The public surface of microcred's credential registry.
/// @notice Only hashes and public keys are ever stored: never personal data.
interface ICredentialRegistry {
    /// @notice An Ed25519 key of an issuer: registered at validFrom (block time), retired at validUntil.
    struct IssuerKey {
        bytes32 publicKey;
        uint64 validFrom;
        uint64 validUntil; // 0 = still valid
        bool compromised;
    }

    /// @notice `account` is already registered (an account is registered once, ever).
    error IssuerAlreadyRegistered(address account);
    /// @notice `account` was never registered.
    error IssuerNotRegistered(address account);
    /// @notice `account` is registered but suspended.
    error IssuerNotActive(address account);
    /// @notice The DID is the empty string.
    error EmptyDid();
    /// @notice The public key is zero.
    error InvalidPublicKey();
    /// @notice `publicKey` is already in `account`'s key history.
    error KeyAlreadyRegistered(address account, bytes32 publicKey);
    /// @notice `publicKey` is not in `account`'s key history.
    error KeyNotFound(address account, bytes32 publicKey);
    /// @notice `publicKey` was retired before.
    error KeyAlreadyRetired(address account, bytes32 publicKey);
    /// @notice The root is zero.
    error EmptyRoot();
    /// @notice `root` was anchored before, by `anchoredBy`.
    error RootAlreadyAnchored(bytes32 root, address anchoredBy);
    /// @notice A revocation batch with no hashes, or a root of zero leaves.
    error EmptyBatch();
    /// @notice `issuer` already revoked `credentialHash`.
    error AlreadyRevoked(address issuer, bytes32 credentialHash);
    /// @notice A status list hash of zero (zero is what an unset list reads as).
    error EmptyListHash();
    /// @notice `setStatusLists` was given `listIds` and `listHashes` of different lengths.
    error LengthMismatch(uint256 listIds, uint256 listHashes);

    event IssuerRegistered(address indexed account, string did, bytes32 publicKey);
    event IssuerActiveChanged(address indexed account, bool active);
    event KeyAdded(address indexed account, bytes32 indexed publicKey, uint64 validFrom);
    event KeyRetired(address indexed account, bytes32 indexed publicKey, uint64 validUntil, bool compromised);
    event RootAnchored(address indexed issuer, bytes32 indexed root, uint256 leafCount);
    event CredentialRevoked(address indexed issuer, bytes32 indexed credentialHash);
    event StatusListSet(address indexed issuer, bytes32 indexed listId, bytes32 listHash);

    // -- the owner (platform operator) --

    /// @notice Register an issuer's chain account with its DID and first Ed25519 key (valid from now).
    function registerIssuer(address account, string calldata did, bytes32 publicKey) external;

    /// @notice Suspend (false) or reinstate (true) an issuer: a suspended account can neither anchor nor revoke.
    function setIssuerActive(address account, bool active) external;

    /// @notice Add a key (rotation), valid from now; retire the old one with retireKey.
    function addKey(address account, bytes32 publicKey) external;

    /// @notice Retire a key. `validUntil` 0 means the block time. A compromise in the past is stored as
    /// given (found out later), even before the key's validFrom, which means the key was never valid;
    /// a compromise in the future means the block time. A normal retirement is stored as given (the
    /// second the issuer stopped signing, by its clock). Never refused for timing; a key is retired once.
    function retireKey(address account, bytes32 publicKey, uint64 validUntil, bool compromised) external;

    // -- an active issuer account --

    /// @notice Anchor the Merkle root of `leafCount` credential hashes. A root is anchored once.
    function anchorRoot(bytes32 root, uint256 leafCount) external;

    /// @notice Revoke a credential hash in the caller's own namespace.
    function revoke(bytes32 credentialHash) external;

    /// @notice Revoke several credential hashes, all or none.
    function revokeBatch(bytes32[] calldata credentialHashes) external;

    /// @notice Set the latest hash of one of the caller's own status lists. `listId` is keccak256 of
    /// the list credential's URL, `listHash` its credential hash; the block time is kept with it.
    /// The latest call wins; a zero hash is refused.
    function setStatusList(bytes32 listId, bytes32 listHash) external;

    /// @notice `setStatusList` for several lists in one transaction, in order, all or none.
    function setStatusLists(bytes32[] calldata listIds, bytes32[] calldata listHashes) external;

    // -- views for verifiers --

    /// @notice An issuer's record; registeredAt 0 means never registered.
    function issuer(address account)
        external view returns (string memory did, bool active, uint64 registeredAt, uint256 keyCount);

    /// @notice An issuer's whole key history, oldest first.
    function issuerKeys(address account) external view returns (IssuerKey[] memory);

    /// @notice Whether `publicKey` was a valid signing key of `account` at `timestamp`.
    function keyValidAt(address account, bytes32 publicKey, uint64 timestamp) external view returns (bool);

    /// @notice Who anchored `root`, at which block time and number; zeros if never anchored.
    function anchorOf(bytes32 root) external view returns (address anchoredBy, uint64 anchoredAt, uint64 blockNumber);

    /// @notice When `issuer` revoked `credentialHash` (block time); 0 if it did not.
    function revokedAt(address issuer, bytes32 credentialHash) external view returns (uint64);

    /// @notice The latest hash `issuer` set for its status list `listId`, and the block time it was set;
    /// zeros if it never set one.
    function statusListOf(address issuer, bytes32 listId) external view returns (bytes32 listHash, uint64 setAt);

    /// @notice Whether `proof` leads from the credential's leaf to `root`, by OpenZeppelin
    /// StandardMerkleTree rules: leaf = keccak256(keccak256(abi.encode(credentialHash))), sorted pairs.
    function verifyInclusion(bytes32 root, bytes32[] calldata proof, bytes32 credentialHash)
        external pure returns (bool);
}
