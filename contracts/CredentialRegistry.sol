// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ICredentialRegistry} from "./ICredentialRegistry.sol";

/// @title CredentialRegistry
/// @notice Registers issuers and their Ed25519 keys (with history), records Merkle roots of
/// credential hashes anchored by issuer accounts, per-issuer revocations, and the latest hash of
/// each issuer's status lists.
/// @dev Anchoring writes one storage slot per root, whatever the batch size, so the cost per
/// credential falls with the batch. Revocations are keyed by the revoking account, so an
/// issuer can only ever revoke within its own namespace; status lists are keyed the same way.
/// A status list update writes the same two slots whatever the number of entries it changes. Ownership moves in two steps
/// (transferOwnership, then acceptOwnership by the new owner).
contract CredentialRegistry is ICredentialRegistry, Ownable2Step {
    /// @dev registeredAt != 0 marks a registered account; active and registeredAt share a slot.
    struct Issuer {
        string did;
        bool active;
        uint64 registeredAt;
    }

    /// @dev One slot: who anchored the root (20 bytes), block time (6), block number (6).
    struct Anchor {
        address anchoredBy;
        uint48 anchoredAt;
        uint48 blockNumber;
    }

    /// @dev Two slots: the 32-byte hash fills one by itself, so the time needs a second. One slot
    /// would mean storing a shortened hash, which a verifier could not compare with the list's.
    struct StatusList {
        bytes32 listHash;
        uint64 setAt;
    }

    mapping(address account => Issuer) private _issuers;
    mapping(address account => IssuerKey[]) private _keys;
    mapping(bytes32 root => Anchor) private _anchors;
    mapping(address issuer => mapping(bytes32 credentialHash => uint64 revokedAt)) private _revokedAt;
    mapping(address issuer => mapping(bytes32 listId => StatusList)) private _statusLists;

    constructor(address initialOwner) Ownable(initialOwner) {}

    modifier onlyActiveIssuer() {
        Issuer storage record = _issuers[msg.sender];
        if (record.registeredAt == 0) revert IssuerNotRegistered(msg.sender);
        if (!record.active) revert IssuerNotActive(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- owner

    /// @inheritdoc ICredentialRegistry
    function registerIssuer(address account, string calldata did, bytes32 publicKey) external onlyOwner {
        if (_issuers[account].registeredAt != 0) revert IssuerAlreadyRegistered(account);
        if (bytes(did).length == 0) revert EmptyDid();
        if (publicKey == bytes32(0)) revert InvalidPublicKey();
        _issuers[account] = Issuer({did: did, active: true, registeredAt: uint64(block.timestamp)});
        _keys[account].push(IssuerKey(publicKey, uint64(block.timestamp), 0, false));
        emit IssuerRegistered(account, did, publicKey);
        emit KeyAdded(account, publicKey, uint64(block.timestamp));
    }

    /// @inheritdoc ICredentialRegistry
    function setIssuerActive(address account, bool active) external onlyOwner {
        Issuer storage record = _requireIssuer(account);
        record.active = active;
        emit IssuerActiveChanged(account, active);
    }

    /// @inheritdoc ICredentialRegistry
    function addKey(address account, bytes32 publicKey) external onlyOwner {
        _requireIssuer(account);
        if (publicKey == bytes32(0)) revert InvalidPublicKey();
        IssuerKey[] storage keys = _keys[account];
        for (uint256 i = 0; i < keys.length; ++i) {
            if (keys[i].publicKey == publicKey) revert KeyAlreadyRegistered(account, publicKey);
        }
        keys.push(IssuerKey(publicKey, uint64(block.timestamp), 0, false));
        emit KeyAdded(account, publicKey, uint64(block.timestamp));
    }

    /// @inheritdoc ICredentialRegistry
    function retireKey(address account, bytes32 publicKey, uint64 validUntil, bool compromised) external onlyOwner {
        _requireIssuer(account);
        IssuerKey storage key = _findKey(account, publicKey);
        if (key.validUntil != 0) revert KeyAlreadyRetired(account, publicKey);
        // Never refused for timing. 0 means the block time. A compromise is kept as given when it
        // lies in the past (found out later), even before validFrom (never valid), and cannot lie
        // in the future. A normal retirement is kept as given either way: the issuer names the
        // second it stopped signing by its own clock, which a lagging block clock may not have
        // reached yet, so that nothing it signed before is cut off.
        uint64 until = validUntil;
        if (validUntil == 0 || (compromised && validUntil > block.timestamp)) until = uint64(block.timestamp);
        key.validUntil = until;
        key.compromised = compromised;
        emit KeyRetired(account, publicKey, until, compromised);
    }

    // ---------------------------------------------------------------- issuers

    /// @inheritdoc ICredentialRegistry
    function anchorRoot(bytes32 root, uint256 leafCount) external onlyActiveIssuer {
        if (root == bytes32(0)) revert EmptyRoot();
        if (leafCount == 0) revert EmptyBatch();
        Anchor storage existing = _anchors[root];
        if (existing.anchoredBy != address(0)) revert RootAlreadyAnchored(root, existing.anchoredBy);
        _anchors[root] = Anchor(msg.sender, uint48(block.timestamp), uint48(block.number));
        emit RootAnchored(msg.sender, root, leafCount);
    }

    /// @inheritdoc ICredentialRegistry
    function revoke(bytes32 credentialHash) external onlyActiveIssuer {
        _revoke(credentialHash);
    }

    /// @inheritdoc ICredentialRegistry
    function revokeBatch(bytes32[] calldata credentialHashes) external onlyActiveIssuer {
        if (credentialHashes.length == 0) revert EmptyBatch();
        for (uint256 i = 0; i < credentialHashes.length; ++i) {
            _revoke(credentialHashes[i]);
        }
    }

    /// @inheritdoc ICredentialRegistry
    function setStatusList(bytes32 listId, bytes32 listHash) external onlyActiveIssuer {
        _setStatusList(listId, listHash);
    }

    /// @inheritdoc ICredentialRegistry
    function setStatusLists(bytes32[] calldata listIds, bytes32[] calldata listHashes) external onlyActiveIssuer {
        if (listIds.length == 0) revert EmptyBatch();
        if (listIds.length != listHashes.length) revert LengthMismatch(listIds.length, listHashes.length);
        for (uint256 i = 0; i < listIds.length; ++i) {
            _setStatusList(listIds[i], listHashes[i]);
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICredentialRegistry
    function issuer(address account)
        external view returns (string memory did, bool active, uint64 registeredAt, uint256 keyCount)
    {
        Issuer storage record = _issuers[account];
        return (record.did, record.active, record.registeredAt, _keys[account].length);
    }

    /// @inheritdoc ICredentialRegistry
    function issuerKeys(address account) external view returns (IssuerKey[] memory) {
        return _keys[account];
    }

    /// @inheritdoc ICredentialRegistry
    function keyValidAt(address account, bytes32 publicKey, uint64 timestamp) external view returns (bool) {
        IssuerKey[] storage keys = _keys[account];
        for (uint256 i = 0; i < keys.length; ++i) {
            IssuerKey storage key = keys[i];
            if (key.publicKey == publicKey) {
                return timestamp >= key.validFrom && (key.validUntil == 0 || timestamp < key.validUntil);
            }
        }
        return false;
    }

    /// @inheritdoc ICredentialRegistry
    function anchorOf(bytes32 root) external view returns (address anchoredBy, uint64 anchoredAt, uint64 blockNumber) {
        Anchor storage a = _anchors[root];
        return (a.anchoredBy, a.anchoredAt, a.blockNumber);
    }

    /// @inheritdoc ICredentialRegistry
    function revokedAt(address issuerAccount, bytes32 credentialHash) external view returns (uint64) {
        return _revokedAt[issuerAccount][credentialHash];
    }

    /// @inheritdoc ICredentialRegistry
    function statusListOf(address issuerAccount, bytes32 listId) external view returns (bytes32 listHash, uint64 setAt) {
        StatusList storage list = _statusLists[issuerAccount][listId];
        return (list.listHash, list.setAt);
    }

    /// @inheritdoc ICredentialRegistry
    function verifyInclusion(bytes32 root, bytes32[] calldata proof, bytes32 credentialHash)
        external pure returns (bool)
    {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(credentialHash))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ---------------------------------------------------------------- internals

    function _revoke(bytes32 credentialHash) private {
        if (_revokedAt[msg.sender][credentialHash] != 0) revert AlreadyRevoked(msg.sender, credentialHash);
        _revokedAt[msg.sender][credentialHash] = uint64(block.timestamp);
        emit CredentialRevoked(msg.sender, credentialHash);
    }

    function _setStatusList(bytes32 listId, bytes32 listHash) private {
        if (listHash == bytes32(0)) revert EmptyListHash();
        _statusLists[msg.sender][listId] = StatusList(listHash, uint64(block.timestamp));
        emit StatusListSet(msg.sender, listId, listHash);
    }

    function _requireIssuer(address account) private view returns (Issuer storage record) {
        record = _issuers[account];
        if (record.registeredAt == 0) revert IssuerNotRegistered(account);
    }

    function _findKey(address account, bytes32 publicKey) private view returns (IssuerKey storage) {
        IssuerKey[] storage keys = _keys[account];
        for (uint256 i = 0; i < keys.length; ++i) {
            if (keys[i].publicKey == publicKey) return keys[i];
        }
        revert KeyNotFound(account, publicKey);
    }
}
