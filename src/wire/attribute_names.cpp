#include "wire/stun_constants.h"

namespace natpunch::stun::attr {

std::string_view name(std::uint16_t type) {
  switch (type) {
    case kMappedAddress: return "MAPPED-ADDRESS";
    case kChangeRequest: return "CHANGE-REQUEST";
    case kUsername: return "USERNAME";
    case kMessageIntegrity: return "MESSAGE-INTEGRITY";
    case kErrorCode: return "ERROR-CODE";
    case kUnknownAttributes: return "UNKNOWN-ATTRIBUTES";
    case kRealm: return "REALM";
    case kNonce: return "NONCE";
    case kXorMappedAddress: return "XOR-MAPPED-ADDRESS";
    case kPadding: return "PADDING";
    case kResponsePort: return "RESPONSE-PORT";
    case kSoftware: return "SOFTWARE";
    case kFingerprint: return "FINGERPRINT";
    case kResponseOrigin: return "RESPONSE-ORIGIN";
    case kOtherAddress: return "OTHER-ADDRESS";
    case kDeviceId: return "NP-DEVICE-ID";
    case kPeerId: return "NP-PEER-ID";
    case kLocalAddress: return "NP-LOCAL-ADDRESS";
    case kPeerMappedAddress: return "NP-PEER-MAPPED-ADDRESS";
    case kPeerLocalAddress: return "NP-PEER-LOCAL-ADDRESS";
    case kAttemptToken: return "NP-ATTEMPT-TOKEN";
    case kLifetime: return "NP-LIFETIME";
    case kInitiator: return "NP-INITIATOR";
    case kNatBehavior: return "NP-NAT-BEHAVIOR";
    case kPeerNatBehavior: return "NP-PEER-NAT-BEHAVIOR";
    case kPunchStage: return "NP-PUNCH-STAGE";
    case kProbeTarget: return "NP-PROBE-TARGET";
    case kReachedAt: return "NP-REACHED-AT";
    case kSequence: return "NP-SEQUENCE";
    case kSignalKind: return "NP-SIGNAL-KIND";
    case kPublicKey: return "NP-PUBLIC-KEY";
    case kSignature: return "NP-SIGNATURE";
    case kPeerPublicKey: return "NP-PEER-PUBLIC-KEY";
    case kAllow: return "NP-ALLOW";
    case kTurnServer: return "NP-TURN-SERVER";
    case kTurnUsername: return "NP-TURN-USERNAME";
    case kTurnPassword: return "NP-TURN-PASSWORD";
    case kPortMapped: return "NP-PORT-MAPPED";
    case kPeerPortMapped: return "NP-PEER-PORT-MAPPED";
    case kRelayed: return "NP-RELAYED";
    case kPeerRelayed: return "NP-PEER-RELAYED";
    default: return "unknown";
  }
}

}  // namespace natpunch::stun::attr
