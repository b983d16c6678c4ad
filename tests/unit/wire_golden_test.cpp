// Golden bytes for every natpunch message (issue 13, item 6): each vector is written out from
// docs/protocol.md and RFC 8489, never produced by the encoder under test. Each test parses the
// vector (FINGERPRINT checked), decodes it with src/wire's decoder, compares every field with the value
// written here, re-encodes those fields with src/wire's encoder and compares byte for byte.
//
// How the vectors were made: each attribute was laid out by hand from docs/protocol.md's tables
// (message type = method and class interleaved as in RFC 8489 §5, attribute numbers and value layouts
// from the attribute table, XOR addresses as in §14.2, ERROR-CODE as in §14.8, values padded to 4 bytes
// with zeros). The arithmetic (address XOR with the cookie and transaction ID, FINGERPRINT =
// zlib.crc32 of the message up to it with the length field counting it, XOR 0x5354554e, §14.7) and
// the NP-SIGNATUREs (Ed25519 under RFC 8032 §7.1 test 1's secret key, with Python's `cryptography`,
// i.e. OpenSSL, not the libsodium natpunch signs with) came from a one-off python3 script (struct,
// zlib, ipaddress) that calls no natpunch code and is not kept; the same script reproduces RFC 5769's
// XOR-MAPPED-ADDRESS values and FINGERPRINT. The TURN passwords came from `openssl dgst` (below).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "identity/device_key.h"
#include "identity/signed_request.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/padding.h"
#include "wire/punch_packet.h"

namespace natpunch {
namespace {

// The server's nonces: "np1-" + 16 hex (period) + "-" + 32 hex (MAC), 53 bytes.
constexpr const char* kNonceA = "np1-00000000005b8d80-0123456789abcdef0123456789abcdef";
constexpr const char* kNonceB = "np1-00000000005b8d80-fedcba9876543210fedcba9876543210";
// RFC 8032 §7.1 TEST 1 (alice's key) and TEST 2's public key (bob's, as the server has it bound).
constexpr const char* kAliceSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kAlicePublicKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kBobPublicKey = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr const char* kToken = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
// printf '%s' '1800000600:alice' | openssl dgst -sha1 -hmac 'relay-secret' -binary | base64
constexpr const char* kAliceTurnPassword = "TTfQjbf8pXT+g4Qzk5z64WAGxlc=";
// printf '%s' '1800000600:bob' | openssl dgst -sha1 -hmac 'relay-secret' -binary | base64
constexpr const char* kBobTurnPassword = "iUvhqE5Vu2WAFOJlaMUumh6VXxE=";

// NP-REGISTER request with every optional field (a device that knows no nonce yet and is large enough).
constexpr const char* kRegisterRequest =
    "02 40 00 78 21 12 a4 42"              // type 0x0240, length 120, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "reg-alice-01"
    "c4 a0 00 06 03 61 6c 69 63 65 00 00"  // NP-DEVICE-ID: kind 3 (user name), "alice", 2 bytes padding
    "c4 a2 00 08 00 01 32 9a e1 ba a5 56"  // NP-LOCAL-ADDRESS: 192.168.1.20:5000 (XOR)
    "c4 a2 00 14 00 02 32 9a dc 12 a4 42"  // NP-LOCAL-ADDRESS: [fd00::20]:5000 (XOR, cookie || txid)
    "72 65 67 2d 61 6c 69 63 65 2d 30 11"
    "c4 a6 00 04 00 00 00 3c"              // NP-LIFETIME: 60 s requested
    "c4 a8 00 08 01 03 01 03 00 00 00 00"  // NP-NAT-BEHAVIOR: EI map, APD filter, preserved, flags 3
    "c4 b3 00 19 00 04 03 62 6f 62 12 02"  // NP-ALLOW: mode 0, "bob", MAC 00:11:22:aa:bb:cc, 3 bytes padding
    "30 30 3a 31 31 3a 32 32 3a 61 61 3a 62 62 3a 63"
    "63 00 00 00"
    "c4 b7 00 08 00 01 bd 53 e7 21 c0 45"  // NP-PORT-MAPPED: 198.51.100.7:40001 (XOR)
    "80 28 00 04 f1 55 c2 7a";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// A first NP-REGISTER without a nonce: PADDING brings it to 108 bytes, the size of its answer.
constexpr const char* kRegisterPadded =
    "02 40 00 58 21 12 a4 42"              // type 0x0240, length 88, magic cookie
    "72 65 67 2d 62 6f 62 2d 30 30 30 31"  // transaction ID "reg-bob-0001"
    "c4 a0 00 04 03 62 6f 62"              // NP-DEVICE-ID: kind 3 (user name), "bob"
    "c4 a2 00 08 00 01 22 fa 2b 12 a4 4b"  // NP-LOCAL-ADDRESS: 10.0.0.9:1000 (XOR)
    "c4 b3 00 01 01 00 00 00"              // NP-ALLOW: mode 1 (any peer), 3 bytes padding
    "00 26 00 30 00 00 00 00 00 00 00 00"  // PADDING: 48 zero bytes (108 - 56)
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    "00 00 00 00 00 00 00 00"
    "80 28 00 04 f2 7b c4 a6";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// An unsigned NP-REGISTER quoting the server's NONCE (proves its source address).
constexpr const char* kRegisterQuotingNonce =
    "02 40 00 5c 21 12 a4 42"              // type 0x0240, length 92, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 32"  // transaction ID "reg-alice-02"
    "c4 a0 00 06 03 61 6c 69 63 65 00 00"  // NP-DEVICE-ID: kind 3 (user name), "alice", 2 bytes padding
    "c4 a2 00 08 00 01 32 9a e1 ba a5 56"  // NP-LOCAL-ADDRESS: 192.168.1.20:5000 (XOR)
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "80 28 00 04 62 08 a8 65";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// A signed NP-REGISTER: [NONCE] NP-PUBLIC-KEY NP-SIGNATURE before FINGERPRINT.
constexpr const char* kRegisterSigned =
    "02 40 00 d0 21 12 a4 42"              // type 0x0240, length 208, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 33"  // transaction ID "reg-alice-03"
    "c4 a0 00 06 03 61 6c 69 63 65 00 00"  // NP-DEVICE-ID: kind 3 (user name), "alice", 2 bytes padding
    "c4 a2 00 08 00 01 32 9a e1 ba a5 56"  // NP-LOCAL-ADDRESS: 192.168.1.20:5000 (XOR)
    "c4 b3 00 06 00 04 03 62 6f 62 00 00"  // NP-ALLOW: mode 0, "bob", 2 bytes padding
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "c4 b0 00 20 d7 5a 98 01 82 b1 0a b7"  // NP-PUBLIC-KEY: RFC 8032 §7.1 test 1 public key
    "d5 4b fe d3 c9 64 07 3a 0e e1 72 f3 da a6 23 25"
    "af 02 1a 68 f7 07 51 1a"
    "c4 b1 00 40 45 ac f4 52 32 fe c7 39"  // NP-SIGNATURE: Ed25519 over the above, length through it
    "4d b0 c0 c0 84 c1 e7 34 79 1f 0d 40 bf f2 83 87"
    "16 63 8a ed 21 46 67 0d 91 a4 1c af e0 53 cb 01"
    "c5 c8 26 e9 16 68 12 e1 a4 a8 7a 40 e2 30 8d b9"
    "48 fc 67 5f 74 92 32 06"
    "80 28 00 04 43 38 b3 cb";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-REGISTER success over IPv4 with the NONCE for that source: 108 bytes.
constexpr const char* kRegisterSuccess =
    "03 40 00 58 21 12 a4 42"              // type 0x0340, length 88, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "reg-alice-01"
    "00 20 00 08 00 01 2e b2 e7 21 c0 45"  // XOR-MAPPED-ADDRESS: 198.51.100.7:4000
    "c4 a6 00 04 00 00 00 3c"              // NP-LIFETIME: 60 s granted
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "80 28 00 04 a4 a7 e9 e1";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-REGISTER success over IPv6: 120 bytes.
constexpr const char* kRegisterSuccessV6 =
    "03 40 00 64 21 12 a4 42"              // type 0x0340, length 100, magic cookie
    "72 65 67 2d 63 61 72 6f 6c 2d 30 31"  // transaction ID "reg-carol-01"
    "00 20 00 14 00 02 2e b2 01 13 a9 fa"  // XOR-MAPPED-ADDRESS: [2001:db8::7]:4000 (XOR, cookie || txid)
    "72 65 67 2d 63 61 72 6f 6c 2d 30 36"
    "c4 a6 00 04 00 00 00 1e"              // NP-LIFETIME: 30 s granted
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceB, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 66 65 64"
    "63 62 61 39 38 37 36 35 34 33 32 31 30 66 65 64"
    "63 62 61 39 38 37 36 35 34 33 32 31 30 00 00 00"
    "80 28 00 04 35 5b 72 45";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-REGISTER error 508.
constexpr const char* kRegisterTooMany =
    "03 50 00 34 21 12 a4 42"              // type 0x0350, length 52, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "reg-alice-01"
    "00 09 00 27 00 00 05 08 54 6f 6f 20"  // ERROR-CODE: 508 "Too many registrations from this IP", 1 byte padding
    "6d 61 6e 79 20 72 65 67 69 73 74 72 61 74 69 6f"
    "6e 73 20 66 72 6f 6d 20 74 68 69 73 20 49 50 00"
    "80 28 00 04 d8 8b 93 6a";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-REGISTER error 401 with the NONCE to quote (a signed request without one).
constexpr const char* kRegisterNonceRequired =
    "03 50 00 5c 21 12 a4 42"              // type 0x0350, length 92, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 33"  // transaction ID "reg-alice-03"
    "00 09 00 12 00 00 04 01 4e 6f 6e 63"  // ERROR-CODE: 401 "Nonce required", 2 bytes padding
    "65 20 72 65 71 75 69 72 65 64 00 00"
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "80 28 00 04 6e c8 27 35";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-REGISTER error 420 listing the comprehension-required attribute not understood.
constexpr const char* kRegisterUnknownAttribute =
    "03 50 00 2c 21 12 a4 42"              // type 0x0350, length 44, magic cookie
    "72 65 67 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "reg-alice-01"
    "00 09 00 15 00 00 04 14 55 6e 6b 6e"  // ERROR-CODE: 420 "Unknown Attribute", 3 bytes padding
    "6f 77 6e 20 41 74 74 72 69 62 75 74 65 00 00 00"
    "00 0a 00 02 00 2f 00 00"   // UNKNOWN-ATTRIBUTES: 0x002f, 2 bytes padding
    "80 28 00 04 73 06 86 e0";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-CONNECT request from a proven source: the NONCE it quotes.
constexpr const char* kConnectRequest =
    "02 41 00 58 21 12 a4 42"              // type 0x0241, length 88, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "con-alice-01"
    "c4 a0 00 06 03 61 6c 69 63 65 00 00"  // NP-DEVICE-ID: kind 3 (user name), "alice" (me), 2 bytes padding
    "c4 a1 00 04 03 62 6f 62"              // NP-PEER-ID: kind 3 (user name), "bob"
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "80 28 00 04 ec d7 28 23";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// A signed NP-CONNECT for a relayed attempt (NP-RELAYED on the offered relay).
constexpr const char* kConnectSignedRelayed =
    "02 41 00 cc 21 12 a4 42"              // type 0x0241, length 204, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 32"  // transaction ID "con-alice-02"
    "c4 a0 00 06 03 61 6c 69 63 65 00 00"  // NP-DEVICE-ID: kind 3 (user name), "alice" (me), 2 bytes padding
    "c4 a1 00 04 03 62 6f 62"              // NP-PEER-ID: kind 3 (user name), "bob"
    "c4 b9 00 08 00 01 e1 22 ea 12 d5 41"  // NP-RELAYED: 203.0.113.3:49200 (XOR)
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "c4 b0 00 20 d7 5a 98 01 82 b1 0a b7"  // NP-PUBLIC-KEY: RFC 8032 §7.1 test 1 public key
    "d5 4b fe d3 c9 64 07 3a 0e e1 72 f3 da a6 23 25"
    "af 02 1a 68 f7 07 51 1a"
    "c4 b1 00 40 8f bc 6f 9d 27 09 a7 01"  // NP-SIGNATURE: Ed25519 over the above, length through it
    "3b 61 14 4c ba c4 72 49 b8 40 fc 66 60 bb 64 87"
    "c4 82 cc 2b 5f 69 6b 38 67 73 8d 38 0d 67 d6 99"
    "49 2d f9 c5 5d 7f 0f e8 c6 86 16 b2 9f 28 cc 8e"
    "07 4a fa e3 5e ef 1e 05"
    "80 28 00 04 1a a7 ea d1";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-CONNECT success: bob's info for alice, with every optional field a success carries.
constexpr const char* kConnectSuccess =
    "03 41 00 d8 21 12 a4 42"              // type 0x0341, length 216, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "con-alice-01"
    "c4 a1 00 04 03 62 6f 62"              // NP-PEER-ID: kind 3 (user name), "bob"
    "c4 a3 00 08 00 01 32 9a ea 12 d5 47"  // NP-PEER-MAPPED-ADDRESS: 203.0.113.5:5000 (XOR)
    "c4 a4 00 08 00 01 22 fa 2b 12 a4 4b"  // NP-PEER-LOCAL-ADDRESS: 10.0.0.9:1000 (XOR)
    "c4 a4 00 14 00 02 22 fa dc 12 a4 42"  // NP-PEER-LOCAL-ADDRESS: [fd00::9]:1000 (XOR, cookie || txid)
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 38"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 a7 00 04 00 00 00 01"              // NP-INITIATOR: 1 (alice asked)
    "c4 a9 00 08 02 02 02 01 ff fe 00 00"  // NP-PEER-NAT-BEHAVIOR: AD, AD, sequential, flags 1, delta -2
    "c4 b2 00 20 3d 40 17 c3 e8 43 89 5a"  // NP-PEER-PUBLIC-KEY: RFC 8032 §7.1 test 2 public key
    "92 b7 0a a7 4d 1b 7e bc 9c 98 2c cf 2e c4 96 8c"
    "c0 cd 55 f1 2a f4 66 0c"
    "c4 b4 00 08 00 01 0d 96 cb 00 71 03"  // NP-TURN-SERVER: 203.0.113.3:3478 (MAPPED-ADDRESS, no XOR)
    "c4 b5 00 10 31 38 30 30 30 30 30 36"  // NP-TURN-USERNAME: "1800000600:alice"
    "30 30 3a 61 6c 69 63 65"
    "c4 b6 00 1c 54 54 66 51 6a 62 66 38"  // NP-TURN-PASSWORD: "TTfQjbf8pXT+g4Qzk5z64WAGxlc="
    "70 58 54 2b 67 34 51 7a 6b 35 7a 36 34 57 41 47"
    "78 6c 63 3d"
    "c4 b8 00 08 00 01 bd 50 ea 12 d5 47"  // NP-PEER-PORT-MAPPED: 203.0.113.5:40002 (XOR)
    "80 28 00 04 91 de 3f 3f";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-CONNECT error 401 from an unproven source, with the NONCE.
constexpr const char* kConnectNonceRequired =
    "03 51 00 5c 21 12 a4 42"              // type 0x0351, length 92, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "con-alice-01"
    "00 09 00 12 00 00 04 01 4e 6f 6e 63"  // ERROR-CODE: 401 "Nonce required", 2 bytes padding
    "65 20 72 65 71 75 69 72 65 64 00 00"
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceA, 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32"
    "33 34 35 36 37 38 39 61 62 63 64 65 66 00 00 00"
    "80 28 00 04 89 29 7a a6";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-CONNECT error 403 without its reason (the request was too small to carry it).
constexpr const char* kConnectNotAllowed =
    "03 51 00 10 21 12 a4 42"              // type 0x0351, length 16, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "con-alice-01"
    "00 09 00 04 00 00 04 03"              // ERROR-CODE: 403, no reason phrase
    "80 28 00 04 59 7f ef a7";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-CONNECT error 404.
constexpr const char* kConnectUnknownPeer =
    "03 51 00 1c 21 12 a4 42"              // type 0x0351, length 28, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "con-alice-01"
    "00 09 00 10 00 00 04 04 55 6e 6b 6e"  // ERROR-CODE: 404 "Unknown peer"
    "6f 77 6e 20 70 65 65 72"
    "80 28 00 04 82 90 b3 67";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-CONNECT error 410.
constexpr const char* kConnectPeerExpired =
    "03 51 00 2c 21 12 a4 42"              // type 0x0351, length 44, magic cookie
    "63 6f 6e 2d 61 6c 69 63 65 2d 30 31"  // transaction ID "con-alice-01"
    "00 09 00 1d 00 00 04 0a 50 65 65 72"  // ERROR-CODE: 410 "Peer registration expired", 3 bytes padding
    "20 72 65 67 69 73 74 72 61 74 69 6f 6e 20 65 78"
    "70 69 72 65 64 00 00 00"
    "80 28 00 04 ac 9d 44 53";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-PEER-INFO indication: alice's info for bob, relayed attempt, every optional field.
constexpr const char* kPeerInfo =
    "02 52 01 10 21 12 a4 42"              // type 0x0252, length 272, magic cookie
    "70 65 65 72 2d 69 6e 66 6f 2d 30 31"  // transaction ID "peer-info-01"
    "c4 a1 00 06 03 61 6c 69 63 65 00 00"  // NP-PEER-ID: kind 3 (user name), "alice", 2 bytes padding
    "c4 a3 00 08 00 01 2e b2 e7 21 c0 45"  // NP-PEER-MAPPED-ADDRESS: 198.51.100.7:4000 (XOR)
    "c4 a4 00 08 00 01 32 9a e1 ba a5 56"  // NP-PEER-LOCAL-ADDRESS: 192.168.1.20:5000 (XOR)
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 a7 00 04 00 00 00 00"              // NP-INITIATOR: 0
    "c4 a9 00 0c 03 03 03 01 00 00 00 00"  // NP-PEER-NAT-BEHAVIOR: APD, APD, random, pool 30000-30999
    "75 30 79 17"
    "c4 b2 00 20 d7 5a 98 01 82 b1 0a b7"  // NP-PEER-PUBLIC-KEY: RFC 8032 §7.1 test 1 public key
    "d5 4b fe d3 c9 64 07 3a 0e e1 72 f3 da a6 23 25"
    "af 02 1a 68 f7 07 51 1a"
    "00 15 00 35 6e 70 31 2d 30 30 30 30"  // NONCE: kNonceB (bob quoted it), 3 bytes padding
    "30 30 30 30 30 30 35 62 38 64 38 30 2d 66 65 64"
    "63 62 61 39 38 37 36 35 34 33 32 31 30 66 65 64"
    "63 62 61 39 38 37 36 35 34 33 32 31 30 00 00 00"
    "c4 b4 00 08 00 01 0d 96 cb 00 71 03"  // NP-TURN-SERVER: 203.0.113.3:3478 (MAPPED-ADDRESS, no XOR)
    "c4 b5 00 0e 31 38 30 30 30 30 30 36"  // NP-TURN-USERNAME: "1800000600:bob", 2 bytes padding
    "30 30 3a 62 6f 62 00 00"
    "c4 b6 00 1c 69 55 76 68 71 45 35 56"  // NP-TURN-PASSWORD: "iUvhqE5Vu2WAFOJlaMUumh6VXxE="
    "75 32 57 41 46 4f 4a 6c 61 4d 55 75 6d 68 36 56"
    "58 78 45 3d"
    "c4 b8 00 08 00 01 bd 53 e7 21 c0 45"  // NP-PEER-PORT-MAPPED: 198.51.100.7:40001 (XOR)
    "c4 ba 00 08 00 01 e1 22 ea 12 d5 41"  // NP-PEER-RELAYED: 203.0.113.3:49200 (XOR)
    "80 28 00 04 f8 5e d0 60";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-SIGNAL request: bob's listener is ready, with a hint address.
constexpr const char* kSignalRequest =
    "02 44 00 44 21 12 a4 42"              // type 0x0244, length 68, magic cookie
    "73 69 67 2d 62 6f 62 2d 30 30 30 31"  // transaction ID "sig-bob-0001"
    "c4 a0 00 04 03 62 6f 62"              // NP-DEVICE-ID: kind 3 (user name), "bob" (me)
    "c4 a1 00 06 03 61 6c 69 63 65 00 00"  // NP-PEER-ID: kind 3 (user name), "alice", 2 bytes padding
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 af 00 04 00 00 00 01"              // NP-SIGNAL-KIND: 1 (listener ready)
    "c4 ab 00 08 00 01 32 9e ea 12 d5 47"  // NP-PROBE-TARGET: 203.0.113.5:5004 (XOR), the hint
    "80 28 00 04 c1 44 52 15";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-SIGNAL success: nothing but FINGERPRINT.
constexpr const char* kSignalSuccess =
    "03 44 00 08 21 12 a4 42"              // type 0x0344, length 8, magic cookie
    "73 69 67 2d 62 6f 62 2d 30 30 30 31"  // transaction ID "sig-bob-0001"
    "80 28 00 04 9f cc a1 3c";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-SIGNAL error 403.
constexpr const char* kSignalNoSuchAttempt =
    "03 54 00 20 21 12 a4 42"              // type 0x0354, length 32, magic cookie
    "73 69 67 2d 62 6f 62 2d 30 30 30 31"  // transaction ID "sig-bob-0001"
    "00 09 00 13 00 00 04 03 4e 6f 20 73"  // ERROR-CODE: 403 "No such attempt", 1 byte padding
    "75 63 68 20 61 74 74 65 6d 70 74 00"
    "80 28 00 04 18 3c cd 2c";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-SIGNAL error 404.
constexpr const char* kSignalUnknownPeer =
    "03 54 00 1c 21 12 a4 42"              // type 0x0354, length 28, magic cookie
    "73 69 67 2d 62 6f 62 2d 30 30 30 31"  // transaction ID "sig-bob-0001"
    "00 09 00 10 00 00 04 04 55 6e 6b 6e"  // ERROR-CODE: 404 "Unknown peer"
    "6f 77 6e 20 70 65 65 72"
    "80 28 00 04 d3 ea 0f b8";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-SIGNAL indication: alice tells bob her spray is done (no hint).
constexpr const char* kSignalIndication =
    "02 54 00 38 21 12 a4 42"              // type 0x0254, length 56, magic cookie
    "73 69 67 2d 69 6e 64 2d 30 30 30 31"  // transaction ID "sig-ind-0001"
    "c4 a0 00 06 03 61 6c 69 63 65 00 00"  // NP-DEVICE-ID: kind 3 (user name), "alice" (the sender), 2 bytes padding
    "c4 a1 00 04 03 62 6f 62"              // NP-PEER-ID: kind 3 (user name), "bob"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 af 00 04 00 00 00 02"   // NP-SIGNAL-KIND: 2 (spray done)
    "80 28 00 04 d7 8e 5b 56";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-PUNCH probe from alice to bob's mapping.
constexpr const char* kPunchProbe =
    "02 53 00 38 21 12 a4 42"              // type 0x0253, length 56, magic cookie
    "70 75 6e 63 68 2d 30 30 30 30 30 31"  // transaction ID "punch-000001"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 aa 00 04 00 00 00 01"              // NP-PUNCH-STAGE: 1 (probe)
    "c4 ab 00 08 00 01 32 9a ea 12 d5 47"  // NP-PROBE-TARGET: 203.0.113.5:5000 (XOR)
    "c4 ad 00 04 00 00 00 01"              // NP-SEQUENCE: 1
    "80 28 00 04 53 e3 17 7f";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// A packet of a retired stage (5, the old "data"): a valid STUN message that is no punch packet.
constexpr const char* kPunchRetiredDataStage =
    "02 53 00 38 21 12 a4 42"              // type 0x0253, length 56, magic cookie
    "70 75 6e 63 68 2d 30 30 30 30 30 34"  // transaction ID "punch-000004"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 aa 00 04 00 00 00 05"              // NP-PUNCH-STAGE: 5 (retired: data)
    "c4 ab 00 08 00 01 32 9a ea 12 d5 47"  // NP-PROBE-TARGET: 203.0.113.5:5000 (XOR)
    "c4 ad 00 04 00 00 00 01"              // NP-SEQUENCE: 1
    "80 28 00 04 9e b1 8a 58";             // FINGERPRINT

// A probe that also carries 0xC4AE (the retired NP-PAYLOAD): comprehension-optional, ignored.
constexpr const char* kPunchProbeWithRetiredPayload =
    "02 53 00 40 21 12 a4 42"              // type 0x0253, length 64, magic cookie
    "70 75 6e 63 68 2d 30 30 30 30 30 35"  // transaction ID "punch-000005"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 aa 00 04 00 00 00 01"              // NP-PUNCH-STAGE: 1 (probe)
    "c4 ab 00 08 00 01 32 9a ea 12 d5 47"  // NP-PROBE-TARGET: 203.0.113.5:5000 (XOR)
    "c4 ad 00 04 00 00 00 01"              // NP-SEQUENCE: 1
    "c4 ae 00 04 68 69 21 21"              // 0xC4AE (was NP-PAYLOAD): "hi!!"
    "80 28 00 04 d0 1a 8a 63";             // FINGERPRINT

// NP-PUNCH ack from bob: where the probe reached him.
constexpr const char* kPunchAck =
    "02 53 00 44 21 12 a4 42"              // type 0x0253, length 68, magic cookie
    "70 75 6e 63 68 2d 30 30 30 30 30 32"  // transaction ID "punch-000002"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 aa 00 04 00 00 00 02"              // NP-PUNCH-STAGE: 2 (ack)
    "c4 ab 00 08 00 01 2e b2 e7 21 c0 45"  // NP-PROBE-TARGET: 198.51.100.7:4000 (XOR)
    "c4 ac 00 08 00 01 32 9a ea 12 d5 47"  // NP-REACHED-AT: 203.0.113.5:5000 (XOR)
    "c4 ad 00 04 00 00 00 07"              // NP-SEQUENCE: 7
    "80 28 00 04 da 0f 54 e8";             // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

// NP-PUNCH confirm from alice, over IPv6.
constexpr const char* kPunchConfirm =
    "02 53 00 44 21 12 a4 42"              // type 0x0253, length 68, magic cookie
    "70 75 6e 63 68 2d 30 30 30 30 30 33"  // transaction ID "punch-000003"
    "c4 a5 00 10 a0 a1 a2 a3 a4 a5 a6 a7"  // NP-ATTEMPT-TOKEN: a0 a1 ... af
    "a8 a9 aa ab ac ad ae af"
    "c4 aa 00 04 00 00 00 03"              // NP-PUNCH-STAGE: 3 (confirm)
    "c4 ab 00 14 00 02 32 9a 01 13 a9 fa"  // NP-PROBE-TARGET: [2001:db8::5]:5000 (XOR, cookie || txid)
    "70 75 6e 63 68 2d 30 30 30 30 30 36"
    "c4 ad 00 04 00 00 00 02"   // NP-SEQUENCE: 2
    "80 28 00 04 0d 59 83 00";  // FINGERPRINT: CRC-32 of all above ^ 0x5354554e

Bytes hex(const char* s) { return *from_hex(s); }
SocketAddress addr(const char* s) { return *parse_socket_address(s); }
DeviceId user(const char* name) { return DeviceId{IdKind::UserName, name}; }

TransactionId txid(std::string_view ascii) {
  TransactionId t{};
  std::memcpy(t.data(), ascii.data(), t.size());
  return t;
}

AttemptToken token() {
  AttemptToken t{};
  auto b = hex(kToken);
  std::memcpy(t.data(), b.data(), t.size());
  return t;
}

std::vector<std::string> texts(const std::vector<SocketAddress>& list) {
  std::vector<std::string> out;
  for (const auto& a : list) out.push_back(a.to_string());
  return out;
}

std::string nonce_of(const MessageView& m) {
  const auto* n = m.find(stun::attr::kNonce);
  return n ? std::string(as_text(n->value)) : std::string("(none)");
}

// Parses a vector and checks the header fields written in it.
Result<MessageView, ParseError> parse_vector(const Bytes& bytes, std::uint16_t type, std::string_view id,
                                             std::size_t attributes) {
  auto m = parse_message(bytes);
  if (!m) return m;
  EXPECT_EQ(m->type, type);
  EXPECT_EQ(m->transaction, txid(id));
  EXPECT_TRUE(m->has_fingerprint());
  // Every attribute in the vector is a field checked below: nothing the decoder skips.
  EXPECT_EQ(m->attributes.size(), attributes);
  return m;
}

TEST(GoldenRegister, RequestWithEveryOptionalField) {
  const Bytes bytes = hex(kRegisterRequest);
  auto m = parse_vector(bytes, 0x0240, "reg-alice-01", 8);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_register_request(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->id, user("alice"));
  EXPECT_EQ(texts(r->locals), (std::vector<std::string>{"192.168.1.20:5000", "[fd00::20]:5000"}));
  EXPECT_EQ(r->lifetime_s, 60u);
  NatBehavior nat;
  nat.mapping = Dependence::EndpointIndependent;
  nat.filtering = Dependence::AddressAndPortDependent;
  nat.allocation = Allocation::Preserved;
  nat.behind_nat = true;
  nat.port_preserved = true;
  EXPECT_EQ(r->nat, nat);
  EXPECT_EQ(r->allow, (AllowList{false, {user("bob"), DeviceId{IdKind::Mac, "00:11:22:aa:bb:cc"}}}));
  EXPECT_EQ(r->port_mapped, addr("198.51.100.7:40001"));
  EXPECT_EQ(to_hex(encode_register_request(*r, m->transaction)), to_hex(bytes));
}

TEST(GoldenRegister, FirstRequestPaddedToItsAnswer) {
  const Bytes bytes = hex(kRegisterPadded);
  ASSERT_EQ(bytes.size(), 108u);
  auto m = parse_vector(bytes, 0x0240, "reg-bob-0001", 5);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_register_request(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->id, user("bob"));
  EXPECT_EQ(texts(r->locals), std::vector<std::string>{"10.0.0.9:1000"});
  EXPECT_FALSE(r->lifetime_s);
  EXPECT_FALSE(r->nat);
  EXPECT_EQ(r->allow, (AllowList{true, {}}));
  EXPECT_FALSE(r->port_mapped);
  ASSERT_NE(m->find(stun::attr::kPadding), nullptr);
  EXPECT_EQ(m->find(stun::attr::kPadding)->value.size(), 48u);
  const Bytes again = padded_to(encode_register_request(*r, m->transaction), register_response_size(Family::V4));
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

TEST(GoldenRegister, RequestQuotingTheNonce) {
  const Bytes bytes = hex(kRegisterQuotingNonce);
  auto m = parse_vector(bytes, 0x0240, "reg-alice-02", 4);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_register_request(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->id, user("alice"));
  EXPECT_EQ(texts(r->locals), std::vector<std::string>{"192.168.1.20:5000"});
  EXPECT_FALSE(r->lifetime_s || r->nat || r->allow || r->port_mapped);
  EXPECT_EQ(nonce_of(*m), kNonceA);
  // The client adds the NONCE to the finished request, then pads to 108 bytes (already larger).
  const Bytes again =
      padded_to(with_attribute(encode_register_request(*r, m->transaction), stun::attr::kNonce, as_bytes(kNonceA)),
                register_response_size(Family::V4));
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

// Ed25519 is deterministic (RFC 8032): libsodium under the same seed must produce the signature that
// Python's cryptography (OpenSSL) wrote into the vector.
TEST(GoldenRegister, SignedRequest) {
  const Bytes bytes = hex(kRegisterSigned);
  auto m = parse_vector(bytes, 0x0240, "reg-alice-03", 7);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_register_request(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->id, user("alice"));
  EXPECT_EQ(texts(r->locals), std::vector<std::string>{"192.168.1.20:5000"});
  EXPECT_EQ(r->allow, (AllowList{false, {user("bob")}}));
  auto sig = check_signature(*m);
  ASSERT_EQ(sig.state, SignatureState::Valid);
  EXPECT_EQ(to_hex(sig.key), kAlicePublicKey);
  EXPECT_EQ(sig.nonce, kNonceA);
  const Bytes seed = hex(kAliceSeed);
  const auto key = DeviceKey::from_seed(std::span<const std::byte, kSeedSize>(seed.data(), kSeedSize));
  EXPECT_EQ(to_hex(key.public_key()), kAlicePublicKey);
  EXPECT_EQ(to_hex(sign_request(encode_register_request(*r, m->transaction), key, kNonceA)), to_hex(bytes));
}

// A register success as the server builds it: the response, then the NONCE for the source.
void check_register_success(const char* vector, Family family, std::string_view txid, const char* mapped,
                            std::uint32_t lifetime, const char* nonce) {
  const Bytes bytes = hex(vector);
  ASSERT_EQ(bytes.size(), register_response_size(family));
  auto m = parse_vector(bytes, 0x0340, txid, 4);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_register_response(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->mapped.to_string(), mapped);
  EXPECT_EQ(r->lifetime_s, lifetime);
  EXPECT_EQ(nonce_of(*m), nonce);
  const Bytes again =
      with_attribute(encode_register_response(*r, m->transaction), stun::attr::kNonce, as_bytes(nonce));
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

TEST(GoldenRegister, SuccessOverIpv4WithNonce) {
  check_register_success(kRegisterSuccess, Family::V4, "reg-alice-01", "198.51.100.7:4000", 60, kNonceA);
}

TEST(GoldenRegister, SuccessOverIpv6WithNonce) {
  check_register_success(kRegisterSuccessV6, Family::V6, "reg-carol-01", "[2001:db8::7]:4000", 30, kNonceB);
}

TEST(GoldenConnect, RequestQuotingTheNonce) {
  const Bytes bytes = hex(kConnectRequest);
  auto m = parse_vector(bytes, 0x0241, "con-alice-01", 4);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_connect_request(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->self, user("alice"));
  EXPECT_EQ(r->peer, user("bob"));
  EXPECT_FALSE(r->relayed);
  EXPECT_EQ(nonce_of(*m), kNonceA);
  const Bytes again = with_attribute(encode_connect_request(*r, m->transaction), stun::attr::kNonce, as_bytes(kNonceA));
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

TEST(GoldenConnect, SignedRelayedRequest) {
  const Bytes bytes = hex(kConnectSignedRelayed);
  auto m = parse_vector(bytes, 0x0241, "con-alice-02", 7);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto r = decode_connect_request(*m);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->self, user("alice"));
  EXPECT_EQ(r->peer, user("bob"));
  EXPECT_EQ(r->relayed, addr("203.0.113.3:49200"));
  auto sig = check_signature(*m);
  ASSERT_EQ(sig.state, SignatureState::Valid);
  EXPECT_EQ(to_hex(sig.key), kAlicePublicKey);
  EXPECT_EQ(sig.nonce, kNonceA);
  const Bytes seed = hex(kAliceSeed);
  const auto key = DeviceKey::from_seed(std::span<const std::byte, kSeedSize>(seed.data(), kSeedSize));
  EXPECT_EQ(to_hex(sign_request(encode_connect_request(*r, m->transaction), key, kNonceA)), to_hex(bytes));
}

TEST(GoldenConnect, SuccessWithEveryOptionalField) {
  const Bytes bytes = hex(kConnectSuccess);
  auto m = parse_vector(bytes, 0x0341, "con-alice-01", 13);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto p = decode_peer_info(*m);
  ASSERT_TRUE(p.ok()) << to_string(p.error());
  EXPECT_EQ(p->peer, user("bob"));
  EXPECT_EQ(p->peer_mapped.to_string(), "203.0.113.5:5000");
  EXPECT_EQ(texts(p->peer_locals), (std::vector<std::string>{"10.0.0.9:1000", "[fd00::9]:1000"}));
  EXPECT_EQ(p->token, token());
  EXPECT_TRUE(p->initiator);
  NatBehavior nat;
  nat.mapping = Dependence::AddressDependent;
  nat.filtering = Dependence::AddressDependent;
  nat.allocation = Allocation::Sequential;
  nat.behind_nat = true;
  nat.port_delta = -2;
  EXPECT_EQ(p->peer_nat, nat);
  ASSERT_TRUE(p->peer_key);
  EXPECT_EQ(to_hex(*p->peer_key), kBobPublicKey);
  EXPECT_FALSE(p->nonce);
  EXPECT_EQ(p->turn, (TurnGrant{addr("203.0.113.3:3478"), "1800000600:alice", kAliceTurnPassword}));
  EXPECT_EQ(p->peer_port_mapped, addr("203.0.113.5:40002"));
  EXPECT_FALSE(p->peer_relayed);
  const Bytes again = encode_peer_info(*p, stun::MessageClass::Success, stun::method::kConnect, m->transaction);
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

TEST(GoldenPeerInfo, IndicationWithEveryOptionalField) {
  const Bytes bytes = hex(kPeerInfo);
  auto m = parse_vector(bytes, 0x0252, "peer-info-01", 14);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto p = decode_peer_info(*m);
  ASSERT_TRUE(p.ok()) << to_string(p.error());
  EXPECT_EQ(p->peer, user("alice"));
  EXPECT_EQ(p->peer_mapped.to_string(), "198.51.100.7:4000");
  EXPECT_EQ(texts(p->peer_locals), std::vector<std::string>{"192.168.1.20:5000"});
  EXPECT_EQ(p->token, token());
  EXPECT_FALSE(p->initiator);
  NatBehavior nat;
  nat.mapping = Dependence::AddressAndPortDependent;
  nat.filtering = Dependence::AddressAndPortDependent;
  nat.allocation = Allocation::Random;
  nat.behind_nat = true;
  nat.pool_lo = 30000;
  nat.pool_hi = 30999;
  EXPECT_EQ(p->peer_nat, nat);
  ASSERT_TRUE(p->peer_key);
  EXPECT_EQ(to_hex(*p->peer_key), kAlicePublicKey);
  EXPECT_EQ(p->nonce, kNonceB);
  EXPECT_EQ(p->turn, (TurnGrant{addr("203.0.113.3:3478"), "1800000600:bob", kBobTurnPassword}));
  EXPECT_EQ(p->peer_port_mapped, addr("198.51.100.7:40001"));
  EXPECT_EQ(p->peer_relayed, addr("203.0.113.3:49200"));
  const Bytes again = encode_peer_info(*p, stun::MessageClass::Indication, stun::method::kPeerInfo, m->transaction);
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

TEST(GoldenSignal, RequestWithHint) {
  const Bytes bytes = hex(kSignalRequest);
  auto m = parse_vector(bytes, 0x0244, "sig-bob-0001", 6);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto s = decode_signal(*m);
  ASSERT_TRUE(s.ok()) << to_string(s.error());
  EXPECT_EQ(s->from, user("bob"));
  EXPECT_EQ(s->to, user("alice"));
  EXPECT_EQ(s->token, token());
  EXPECT_EQ(s->kind, SignalKind::ListenerReady);
  EXPECT_EQ(s->hint, addr("203.0.113.5:5004"));
  EXPECT_EQ(to_hex(encode_signal(*s, stun::MessageClass::Request, m->transaction)), to_hex(bytes));
}

TEST(GoldenSignal, SuccessIsOnlyAFingerprint) {
  const Bytes bytes = hex(kSignalSuccess);
  auto m = parse_vector(bytes, 0x0344, "sig-bob-0001", 1);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  // As the server answers a relayed signal.
  const Bytes again = MessageBuilder(stun::method::kSignal, stun::MessageClass::Success, m->transaction).finish();
  EXPECT_EQ(to_hex(again), to_hex(bytes));
}

TEST(GoldenSignal, Indication) {
  const Bytes bytes = hex(kSignalIndication);
  auto m = parse_vector(bytes, 0x0254, "sig-ind-0001", 5);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto s = decode_signal(*m);
  ASSERT_TRUE(s.ok()) << to_string(s.error());
  EXPECT_EQ(s->from, user("alice"));
  EXPECT_EQ(s->to, user("bob"));
  EXPECT_EQ(s->token, token());
  EXPECT_EQ(s->kind, SignalKind::SprayDone);
  EXPECT_FALSE(s->hint);
  EXPECT_EQ(to_hex(encode_signal(*s, stun::MessageClass::Indication, m->transaction)), to_hex(bytes));
}

// Every error response: ERROR-CODE [, UNKNOWN-ATTRIBUTES] [, NONCE], FINGERPRINT.
struct ErrorVector {
  const char* name;
  const char* hex;
  std::uint16_t type;
  std::uint16_t method;
  const char* txid;
  int code;
  const char* reason;
  std::vector<std::uint16_t> unknown;
  const char* nonce;  // nullptr: none
};

TEST(GoldenErrors, DecodeAndReencode) {
  const std::vector<ErrorVector> vectors{
      {"register 508",
       kRegisterTooMany,
       0x0350,
       0x0A0,
       "reg-alice-01",
       508,
       "Too many registrations from this IP",
       {},
       nullptr},
      {"register 401", kRegisterNonceRequired, 0x0350, 0x0A0, "reg-alice-03", 401, "Nonce required", {}, kNonceA},
      {"register 420",
       kRegisterUnknownAttribute,
       0x0350,
       0x0A0,
       "reg-alice-01",
       420,
       "Unknown Attribute",
       {0x002F},
       nullptr},
      {"connect 401", kConnectNonceRequired, 0x0351, 0x0A1, "con-alice-01", 401, "Nonce required", {}, kNonceA},
      {"connect 403", kConnectNotAllowed, 0x0351, 0x0A1, "con-alice-01", 403, "", {}, nullptr},
      {"connect 404", kConnectUnknownPeer, 0x0351, 0x0A1, "con-alice-01", 404, "Unknown peer", {}, nullptr},
      {"connect 410",
       kConnectPeerExpired,
       0x0351,
       0x0A1,
       "con-alice-01",
       410,
       "Peer registration expired",
       {},
       nullptr},
      {"signal 403", kSignalNoSuchAttempt, 0x0354, 0x0A4, "sig-bob-0001", 403, "No such attempt", {}, nullptr},
      {"signal 404", kSignalUnknownPeer, 0x0354, 0x0A4, "sig-bob-0001", 404, "Unknown peer", {}, nullptr},
  };
  for (const auto& v : vectors) {
    SCOPED_TRACE(v.name);
    const Bytes bytes = hex(v.hex);
    const std::size_t attributes = 2 + (v.unknown.empty() ? 0 : 1) + (v.nonce ? 1 : 0);
    auto m = parse_vector(bytes, v.type, v.txid, attributes);
    ASSERT_TRUE(m.ok()) << to_string(m.error());
    EXPECT_EQ(m->method(), v.method);
    EXPECT_EQ(m->cls(), stun::MessageClass::Error);
    auto e = decode_error_response(*m);
    ASSERT_TRUE(e.ok()) << to_string(e.error());
    EXPECT_EQ(e->code, v.code);
    EXPECT_EQ(e->reason, v.reason);
    std::vector<std::uint16_t> unknown;
    if (const auto* u = m->find(stun::attr::kUnknownAttributes)) unknown = *decode_unknown_attributes(u->value);
    EXPECT_EQ(unknown, v.unknown);
    EXPECT_EQ(nonce_of(*m), v.nonce ? v.nonce : "(none)");
    Bytes again = encode_error_response(m->method(), m->transaction, e->code, e->reason, unknown);
    if (v.nonce) again = with_attribute(again, stun::attr::kNonce, as_bytes(v.nonce));
    EXPECT_EQ(to_hex(again), to_hex(bytes));
  }
}

// The NP-PUNCH stages natpunch sends today: probe, ack (with NP-REACHED-AT), confirm.
struct PunchVector {
  const char* name;
  const char* hex;
  const char* txid;
  PunchStage stage;
  const char* target;
  const char* reached_at;  // nullptr: none
  std::uint32_t sequence;
};

TEST(GoldenPunch, DecodeAndReencode) {
  const std::vector<PunchVector> vectors{
      {"probe", kPunchProbe, "punch-000001", PunchStage::Probe, "203.0.113.5:5000", nullptr, 1},
      {"ack", kPunchAck, "punch-000002", PunchStage::Ack, "198.51.100.7:4000", "203.0.113.5:5000", 7},
      {"confirm", kPunchConfirm, "punch-000003", PunchStage::Confirm, "[2001:db8::5]:5000", nullptr, 2},
  };
  for (const auto& v : vectors) {
    SCOPED_TRACE(v.name);
    const Bytes bytes = hex(v.hex);
    EXPECT_TRUE(looks_like_stun(bytes));
    auto m = parse_vector(bytes, 0x0253, v.txid, v.reached_at ? 6 : 5);
    ASSERT_TRUE(m.ok()) << to_string(m.error());
    auto p = decode_punch(*m);
    ASSERT_TRUE(p.ok()) << to_string(p.error());
    EXPECT_EQ(p->token, token());
    EXPECT_EQ(p->stage, v.stage);
    EXPECT_EQ(p->target.to_string(), v.target);
    EXPECT_EQ(p->reached_at ? p->reached_at->to_string() : "(none)", v.reached_at ? v.reached_at : "(none)");
    EXPECT_EQ(p->sequence, v.sequence);
    EXPECT_TRUE(read_punch(bytes, token())) << "the receive path accepts it for its attempt";
    EXPECT_EQ(to_hex(encode_punch(*p, m->transaction)), to_hex(bytes));
  }
}

// The retired data stages (4-7) and NP-PAYLOAD: a packet of such a stage is not a punch packet
// (ignored, as before: nothing sent them), and 0xC4AE on a probe is skipped like any unknown
// comprehension-optional attribute.
TEST(GoldenPunch, RetiredStagesAreRefusedAndTheOldPayloadIgnored) {
  const Bytes data = hex(kPunchRetiredDataStage);
  auto m = parse_vector(data, 0x0253, "punch-000004", 5);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto p = decode_punch(*m);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error(), ParseError::BadAttributeValue);
  EXPECT_FALSE(read_punch(data, token()));

  const Bytes probe = hex(kPunchProbeWithRetiredPayload);
  auto m2 = parse_vector(probe, 0x0253, "punch-000005", 6);
  ASSERT_TRUE(m2.ok()) << to_string(m2.error());
  auto q = read_punch(probe, token());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->stage, PunchStage::Probe);
  EXPECT_EQ(q->sequence, 1u);
  EXPECT_EQ(q->target.to_string(), "203.0.113.5:5000");
}

}  // namespace
}  // namespace natpunch
