// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The public surface of microcred's credential registry.
/// @notice Only hashes and public keys are ever stored: never personal data.
interface ICredentialRegistry {
    /// An Ed25519 key of an issuer and the window in which it may sign.
    struct IssuerKey {
        bytes32 publicKey;
        uint64 validFrom;
        uint64 validUntil; // 0 = still valid
        bool compromised;
    }

    error IssuerAlreadyRegistered(address account);
    error IssuerNotRegistered(address account);
    error IssuerNotActive(address account);
    error EmptyDid();
    error InvalidPublicKey();
    error KeyAlreadyRegistered(address account, bytes32 publicKey);
    error KeyNotFound(address account, bytes32 publicKey);
    error KeyAlreadyRetired(address account, bytes32 publicKey);
    error InvalidValidity(uint64 validFrom, uint64 validUntil);
    error EmptyRoot();
    error RootAlreadyAnchored(bytes32 root, address anchoredBy);
    error EmptyBatch();
    error AlreadyRevoked(address issuer, bytes32 credentialHash);

    event IssuerRegistered(address indexed account, string did, bytes32 publicKey);
    event IssuerActiveChanged(address indexed account, bool active);
    event KeyAdded(address indexed account, bytes32 indexed publicKey, uint64 validFrom);
    event KeyRetired(address indexed account, bytes32 indexed publicKey, uint64 validUntil, bool compromised);
    event RootAnchored(address indexed issuer, bytes32 indexed root, uint256 leafCount);
    event CredentialRevoked(address indexed issuer, bytes32 indexed credentialHash);

    // -- the owner (platform operator) --
    function registerIssuer(address account, string calldata did, bytes32 publicKey) external;
    function setIssuerActive(address account, bool active) external;
    function addKey(address account, bytes32 publicKey) external;
    function retireKey(address account, bytes32 publicKey, uint64 validUntil, bool compromised) external;

    // -- an active issuer account --
    function anchorRoot(bytes32 root, uint256 leafCount) external;
    function revoke(bytes32 credentialHash) external;
    function revokeBatch(bytes32[] calldata credentialHashes) external;

    // -- views for verifiers --
    function issuer(address account)
        external view returns (string memory did, bool active, uint64 registeredAt, uint256 keyCount);
    function issuerKeys(address account) external view returns (IssuerKey[] memory);
    function keyValidAt(address account, bytes32 publicKey, uint64 timestamp) external view returns (bool);
    function anchorOf(bytes32 root) external view returns (address anchoredBy, uint64 anchoredAt, uint64 blockNumber);
    function revokedAt(address issuer, bytes32 credentialHash) external view returns (uint64);
    function verifyInclusion(bytes32 root, bytes32[] calldata proof, bytes32 credentialHash)
        external pure returns (bool);
}
