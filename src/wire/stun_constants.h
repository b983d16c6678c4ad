// STUN numbers: RFC 8489 (base protocol), RFC 5780 (NAT behaviour discovery), and natpunch's own
// methods and attributes (numbers IANA has not assigned; listed in docs/protocol.md).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace natpunch::stun {

inline constexpr std::uint32_t kMagicCookie = 0x2112A442;
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::size_t kTransactionIdSize = 12;
inline constexpr std::uint32_t kFingerprintXor = 0x5354554e;  // RFC 8489 §14.7: "STUN"

enum class MessageClass : std::uint8_t { Request = 0, Indication = 1, Success = 2, Error = 3 };

namespace method {
inline constexpr std::uint16_t kBinding = 0x001;
// natpunch control methods (unassigned by IANA at the time of writing).
inline constexpr std::uint16_t kRegister = 0x0A0;
inline constexpr std::uint16_t kConnect = 0x0A1;
inline constexpr std::uint16_t kPeerInfo = 0x0A2;
inline constexpr std::uint16_t kPunch = 0x0A3;   // peer ↔ peer: probes, acks, confirms
inline constexpr std::uint16_t kSignal = 0x0A4;  // peer → server → peer: punching phase signals
}  // namespace method

namespace attr {
// RFC 8489 comprehension-required (0x0000-0x7FFF).
inline constexpr std::uint16_t kMappedAddress = 0x0001;
inline constexpr std::uint16_t kChangeRequest = 0x0003;  // RFC 5780
inline constexpr std::uint16_t kUsername = 0x0006;
inline constexpr std::uint16_t kMessageIntegrity = 0x0008;
inline constexpr std::uint16_t kErrorCode = 0x0009;
inline constexpr std::uint16_t kUnknownAttributes = 0x000A;
inline constexpr std::uint16_t kRealm = 0x0014;
inline constexpr std::uint16_t kNonce = 0x0015;
inline constexpr std::uint16_t kMessageIntegritySha256 = 0x001C;
inline constexpr std::uint16_t kPasswordAlgorithm = 0x001D;
inline constexpr std::uint16_t kUserhash = 0x001E;
inline constexpr std::uint16_t kXorMappedAddress = 0x0020;
inline constexpr std::uint16_t kPriority = 0x0024;        // RFC 8445
inline constexpr std::uint16_t kUseCandidate = 0x0025;    // RFC 8445
inline constexpr std::uint16_t kPadding = 0x0026;         // RFC 5780
inline constexpr std::uint16_t kResponsePort = 0x0027;    // RFC 5780
// Comprehension-optional (0x8000-0xFFFF).
inline constexpr std::uint16_t kPasswordAlgorithms = 0x8002;
inline constexpr std::uint16_t kAlternateDomain = 0x8003;
inline constexpr std::uint16_t kSoftware = 0x8022;
inline constexpr std::uint16_t kAlternateServer = 0x8023;
inline constexpr std::uint16_t kFingerprint = 0x8028;
inline constexpr std::uint16_t kIceControlled = 0x8029;
inline constexpr std::uint16_t kIceControlling = 0x802A;
inline constexpr std::uint16_t kResponseOrigin = 0x802B;  // RFC 5780
inline constexpr std::uint16_t kOtherAddress = 0x802C;    // RFC 5780
// natpunch attributes: comprehension-optional, so an old STUN client that sees one skips it.
inline constexpr std::uint16_t kDeviceId = 0xC4A0;
inline constexpr std::uint16_t kPeerId = 0xC4A1;
inline constexpr std::uint16_t kLocalAddress = 0xC4A2;
inline constexpr std::uint16_t kPeerMappedAddress = 0xC4A3;
inline constexpr std::uint16_t kPeerLocalAddress = 0xC4A4;
inline constexpr std::uint16_t kAttemptToken = 0xC4A5;
inline constexpr std::uint16_t kLifetime = 0xC4A6;
inline constexpr std::uint16_t kInitiator = 0xC4A7;
inline constexpr std::uint16_t kNatBehavior = 0xC4A8;
inline constexpr std::uint16_t kPeerNatBehavior = 0xC4A9;
inline constexpr std::uint16_t kPunchStage = 0xC4AA;
inline constexpr std::uint16_t kProbeTarget = 0xC4AB;
inline constexpr std::uint16_t kReachedAt = 0xC4AC;
inline constexpr std::uint16_t kSequence = 0xC4AD;
// 0xC4AE was NP-PAYLOAD (data in punch packets): retired, never to be reused.
inline constexpr std::uint16_t kSignalKind = 0xC4AF;
inline constexpr std::uint16_t kPublicKey = 0xC4B0;      // the sender's Ed25519 identity key (32 bytes)
inline constexpr std::uint16_t kSignature = 0xC4B1;      // Ed25519 over the message up to it (64 bytes)
inline constexpr std::uint16_t kPeerPublicKey = 0xC4B2;  // in peer-info: the key the peer's ID is bound to
inline constexpr std::uint16_t kTurnServer = 0xC4B4;    // in peer-info: a TURN relay the server offers
inline constexpr std::uint16_t kTurnUsername = 0xC4B5;  // time-limited TURN credentials for it
inline constexpr std::uint16_t kTurnPassword = 0xC4B6;
inline constexpr std::uint16_t kAllow = 0xC4B3;          // in NP-REGISTER: who may connect to the device
inline constexpr std::uint16_t kPortMapped = 0xC4B7;      // in NP-REGISTER: a mapping the router made for us
inline constexpr std::uint16_t kPeerPortMapped = 0xC4B8;  // in peer-info: the peer's router mapping
inline constexpr std::uint16_t kRelayed = 0xC4B9;         // in NP-CONNECT: the requester's TURN relayed address
inline constexpr std::uint16_t kPeerRelayed = 0xC4BA;     // in peer-info: reach the peer at its relayed address

// RFC 8489 §14: attributes below 0x8000 are comprehension-required.
constexpr bool comprehension_required(std::uint16_t type) { return type < 0x8000; }

// Comprehension-required attributes natpunch understands (anything else below 0x8000 earns a 420).
inline constexpr std::array<std::uint16_t, 16> kUnderstoodRequired{
    kMappedAddress, kChangeRequest,     kUsername,          kMessageIntegrity,
    kErrorCode,     kUnknownAttributes, kRealm,             kNonce,
    kMessageIntegritySha256, kPasswordAlgorithm, kUserhash, kXorMappedAddress,
    kPriority,      kUseCandidate,      kPadding,           kResponsePort};

// RFC 5780 §7.2 CHANGE-REQUEST flags.
inline constexpr std::uint32_t kChangeIp = 0x04;
inline constexpr std::uint32_t kChangePort = 0x02;

std::string_view name(std::uint16_t type);
}  // namespace attr

namespace error_code {
inline constexpr int kTryAlternate = 300;
inline constexpr int kBadRequest = 400;
inline constexpr int kUnauthenticated = 401;
inline constexpr int kForbidden = 403;
inline constexpr int kUnknownPeer = 404;       // natpunch: no registration for the peer ID
inline constexpr int kPeerExpired = 410;       // natpunch: the peer's registration expired
inline constexpr int kUnknownAttribute = 420;
inline constexpr int kStaleNonce = 438;
inline constexpr int kServerError = 500;
inline constexpr int kRegistryFull = 508;      // natpunch: registry at capacity
}  // namespace error_code

// RFC 8489 §5: the 14-bit method and 2-bit class are interleaved in the 16-bit type.
//   0                 1
//   2  3  4 5 6 7 8 9 0 1 2 3 4 5
//  +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
//  |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
//  |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
//  +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
constexpr std::uint16_t message_type(std::uint16_t method, MessageClass cls) {
  auto c = static_cast<std::uint16_t>(cls);
  return static_cast<std::uint16_t>((method & 0x000F) | ((method & 0x0070) << 1) |
                                    ((method & 0x0F80) << 2) | ((c & 0x1) << 4) |
                                    ((c & 0x2) << 7));
}
constexpr std::uint16_t method_of(std::uint16_t type) {
  return static_cast<std::uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) |
                                    ((type & 0x3E00) >> 2));
}
constexpr MessageClass class_of(std::uint16_t type) {
  return static_cast<MessageClass>(((type >> 4) & 0x1) | ((type >> 7) & 0x2));
}

}  // namespace natpunch::stun
