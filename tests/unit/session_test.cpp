// The QUIC session engine (src/session) on a virtual clock: two sessions hand each other their
// packets in memory. Pinned-key handshakes that must pass and fail, whole messages both ways, idle
// timeout, and the STUN/QUIC demultiplexing rule over real greased QUIC packets.
#include <gtest/gtest.h>

#include "identity/device_key.h"
#include "session/datagram_count.h"
#include "session/quic_session.h"
#include "session/stun_demux.h"
#include "wire/builder.h"
#include "wire/message.h"
#include "wire/random_source.h"
#include "wire/stun_constants.h"

namespace natpunch {
namespace {

using std::chrono::milliseconds;

const SocketAddress kClientAddr = SocketAddress::v4({198, 51, 100, 7}, 40000);
const SocketAddress kServerAddr = SocketAddress::v4({203, 0, 113, 9}, 50000);

ByteView view(const std::string& s) { return as_bytes(s); }
std::string text(const Bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// Two sessions and a wire between them on a virtual clock. Every packet is also checked against the
// STUN classifier: none of QUIC's may pass for STUN.
struct Pair {
  DeviceKey client_key = DeviceKey::generate();
  DeviceKey server_key = DeviceKey::generate();
  TimePoint now = TimePoint() + std::chrono::hours(1);
  std::unique_ptr<QuicSession> client, server;
  std::vector<SessionEvent> client_events, server_events;
  std::size_t packets = 0, looked_like_stun = 0;
  bool drop_to_server = false;
  TimePoint last_to_server{};

  void make(std::optional<PublicKey> pin_server, std::optional<PublicKey> pin_client,
            milliseconds idle = milliseconds(30000), bool client_has_key = true,
            milliseconds keepalive = milliseconds(0), std::optional<milliseconds> server_idle = std::nullopt) {
    SessionConfig c;
    c.role = SessionRole::Client;
    c.local = kClientAddr;
    c.remote = kServerAddr;
    c.peer_key = pin_server;
    c.idle_timeout = idle;
    c.keepalive = keepalive;
    c.initial_rtt = milliseconds(20);
    SessionConfig s = c;
    s.role = SessionRole::Server;
    s.local = kServerAddr;
    s.remote = kClientAddr;
    s.peer_key = pin_client;
    if (server_idle) s.idle_timeout = *server_idle;
    auto cs = QuicSession::create(c, client_has_key ? &client_key : nullptr, now);
    auto ss = QuicSession::create(s, &server_key, now);
    ASSERT_TRUE(cs) << cs.error();
    ASSERT_TRUE(ss) << ss.error();
    client = std::move(*cs);
    server = std::move(*ss);
  }

  // Runs the server's timers alone (its client gone) until it closes or `limit` passes.
  void drive_server_alone(milliseconds limit) {
    auto end = now + limit;
    while (now < end && !server->closed()) {
      auto d = server->next_deadline();
      ASSERT_TRUE(d.has_value());
      now = std::max(now + milliseconds(1), *d);
      server->on_timer(now);
    }
  }

  void deliver(std::vector<OutPacket> out, QuicSession& to, const SocketAddress& from) {
    for (auto& p : out) {
      ++packets;
      if (looks_like_stun(p.bytes)) ++looked_like_stun;
      if (&to == server.get() && drop_to_server) continue;
      if (&to == server.get()) last_to_server = now;
      auto back = to.on_datagram(p.bytes, from, now);
      if (&to == server.get())
        deliver(std::move(back), *client, kServerAddr);
      else
        deliver(std::move(back), *server, kClientAddr);
    }
  }
  void collect() {
    for (auto& e : client->take_events()) client_events.push_back(std::move(e));
    for (auto& e : server->take_events()) server_events.push_back(std::move(e));
  }
  // Runs timers and deliveries for up to `span` of virtual time (1 ms steps between deadlines).
  void run(milliseconds span) {
    auto end = now + span;
    while (now < end) {
      std::optional<TimePoint> next;
      for (auto* s : {client.get(), server.get()}) {
        auto d = s->next_deadline();
        if (d && (!next || *d < *next)) next = d;
      }
      now = next ? std::max(now + milliseconds(1), std::min(*next, end)) : end;
      deliver(client->on_timer(now), *server, kClientAddr);
      deliver(server->on_timer(now), *client, kServerAddr);
      collect();
      if (client->closed() && server->closed()) break;
    }
  }
  void start() {
    deliver(client->start(now), *server, kClientAddr);
    collect();
  }
};

bool has(const std::vector<SessionEvent>& events, SessionEvent::Kind kind) {
  for (const auto& e : events)
    if (e.kind == kind) return true;
  return false;
}

// The connection IDs come from the session's RandomSource: a seeded source gives the same client
// Initial DCID and SCID each time, another seed other ones (RFC 9000 §17.2 long header: DCID at 6).
TEST(QuicSession, ConnectionIdsComeFromTheInjectedRandomSource) {
  auto key = DeviceKey::generate();
  auto first_cids = [&](std::uint64_t seed) {
    SessionConfig c;
    c.local = kClientAddr;
    c.remote = kServerAddr;
    c.random = seeded_random(seed);
    auto s = QuicSession::create(c, &key, TimePoint() + std::chrono::hours(1));
    EXPECT_TRUE(s) << s.error();
    if (!s) return Bytes{};
    auto out = (*s)->start(TimePoint() + std::chrono::hours(1));
    EXPECT_FALSE(out.empty());
    if (out.empty()) return Bytes{};
    const auto& p = out.front().bytes;
    EXPECT_GE(p.size(), 6u + 1 + 16 + 1 + 16);
    EXPECT_EQ(std::to_integer<int>(p[5]), 16);  // DCID length
    return Bytes(p.begin() + 6, p.begin() + 6 + 1 + 16 + 1 + 16);  // DCID, SCID length, SCID
  };
  auto a = first_cids(7), b = first_cids(7), c = first_cids(8);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(QuicSession, PinnedKeysOnBothSidesEstablishAndCarryMessagesBothWays) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key());
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.client->established());
  ASSERT_TRUE(p.server->established());
  EXPECT_TRUE(p.client->peer_authenticated());
  EXPECT_TRUE(p.server->peer_authenticated());
  EXPECT_TRUE(has(p.client_events, SessionEvent::Kind::Established));
  EXPECT_TRUE(has(p.server_events, SessionEvent::Kind::Established));
  EXPECT_EQ(p.client->peer_certificate_key(), p.server_key.public_key());
  EXPECT_EQ(p.server->peer_certificate_key(), p.client_key.public_key());

  // A message larger than one packet, echoed on the same stream.
  std::string hello(5000, 'x');
  hello += "end";
  auto stream = p.client->send_message(view(hello));
  ASSERT_TRUE(stream) << stream.error();
  p.deliver(p.client->flush(p.now), *p.server, kClientAddr);
  p.collect();
  const SessionEvent* got = nullptr;
  for (const auto& e : p.server_events)
    if (e.kind == SessionEvent::Kind::Message) got = &e;
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(text(got->data), hello);
  ASSERT_TRUE(p.server->reply(got->stream, got->data));
  p.deliver(p.server->flush(p.now), *p.client, kServerAddr);
  p.collect();
  bool echoed = false;
  for (const auto& e : p.client_events)
    if (e.kind == SessionEvent::Kind::Message && e.stream == *stream) echoed = text(e.data) == hello;
  EXPECT_TRUE(echoed);

  p.deliver(p.client->close(p.now), *p.server, kClientAddr);
  p.collect();
  ASSERT_TRUE(p.server->closed());
  EXPECT_TRUE(p.server->close_info()->by_peer);
  EXPECT_EQ(p.server->close_info()->reason, "closed by peer");
  EXPECT_GT(p.packets, 5u);
  EXPECT_EQ(p.looked_like_stun, 0u);
}

// RFC 9000 §10.2.1: a lost CONNECTION_CLOSE is sent again in the closing period (at 1 and 2 PTO),
// so the peer closes at once instead of after its 30 s idle timeout.
TEST(QuicSession, ALostCloseStillClosesThePeerWithinTheClosingPeriod) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key());
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.client->established() && p.server->established());
  p.drop_to_server = true;
  auto closed_at = p.now;
  p.deliver(p.client->close(p.now), *p.server, kClientAddr);
  p.drop_to_server = false;
  ASSERT_TRUE(p.client->closed());
  EXPECT_TRUE(p.client->closing(p.now));
  EXPECT_FALSE(p.server->closed()) << "the first copy was lost";
  p.run(milliseconds(2000));
  p.collect();
  ASSERT_TRUE(p.server->closed());
  EXPECT_TRUE(p.server->close_info()->by_peer);
  EXPECT_FALSE(p.server->close_info()->idle_timeout);
  EXPECT_LT(p.last_to_server - closed_at, milliseconds(2000));
  // The closing period ends by itself within 2 s of the close, with the session's timers.
  for (int i = 0; i < 100; ++i) {
    auto d = p.client->next_deadline();
    if (!d) break;
    p.now = std::max(p.now, *d);
    p.client->on_timer(p.now);
  }
  EXPECT_FALSE(p.client->closing(p.now)) << "the closing period ends";
  EXPECT_FALSE(p.client->next_deadline());
  EXPECT_LE(p.now - closed_at, milliseconds(2000));
}

// While closing, a packet from the peer's address gets the close again; from anywhere else nothing,
// and never more than kMaxCloseSends copies in all.
TEST(QuicSession, TheClosingSessionAnswersOnlyThePeerAndOnlyAFewTimes) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key());
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.client->established());
  auto close = p.client->close(p.now);
  ASSERT_EQ(close.size(), 1u);
  Bytes junk(60, std::byte{0x41});
  EXPECT_TRUE(p.client->on_datagram(junk, SocketAddress::v4({192, 0, 2, 66}, 1234), p.now).empty());
  int copies = 1;
  for (int i = 0; i < 20; ++i) {
    auto again = p.client->on_datagram(junk, kServerAddr, p.now);
    if (again.empty()) continue;
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].bytes, close[0].bytes);
    EXPECT_EQ(again[0].to, kServerAddr);
    ++copies;
  }
  EXPECT_EQ(copies, kMaxCloseSends);
}

TEST(QuicSession, DatagramsCrossUnreliablyInBothDirectionsInOrderOnALosslessPath) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key());
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.client->established() && p.server->established());
  for (int i = 0; i < 100; ++i) {
    std::string d = "datagram " + std::to_string(i);
    ASSERT_TRUE(p.client->send_datagram(view(d)));
    p.deliver(p.client->flush(p.now), *p.server, kClientAddr);
  }
  ASSERT_TRUE(p.server->send_datagram(view("back")));
  p.deliver(p.server->flush(p.now), *p.client, kServerAddr);
  p.collect();
  std::vector<std::string> got;
  for (const auto& e : p.server_events)
    if (e.kind == SessionEvent::Kind::Datagram) got.push_back(text(e.data));
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "datagram " + std::to_string(i));
  bool back = false;
  for (const auto& e : p.client_events)
    back = back || (e.kind == SessionEvent::Kind::Datagram && text(e.data) == "back");
  EXPECT_TRUE(back);
  EXPECT_FALSE(p.client->send_datagram(Bytes(kMaxSessionDatagram + 1)));
}

TEST(QuicSession, TheSessionSurvivesANatRebindingOfTheClient) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key());
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.client->established() && p.server->established());
  // The client's NAT moves its mapping: from now on its packets arrive from another port.
  const auto moved = SocketAddress::v4({198, 51, 100, 7}, 41000);
  auto stream = p.client->send_message(view("after the move"));
  ASSERT_TRUE(stream);
  std::vector<OutPacket> to_server = p.client->flush(p.now), to_client;
  std::size_t to_moved = 0;
  std::string echoed;
  for (int round = 0; round < 50 && echoed.empty(); ++round) {
    for (auto& pk : to_server)
      for (auto& back : p.server->on_datagram(pk.bytes, moved, p.now)) to_client.push_back(std::move(back));
    to_server.clear();
    for (auto& e : p.server->take_events()) {
      if (e.kind == SessionEvent::Kind::Message) {
        ASSERT_TRUE(p.server->reply(e.stream, e.data));
      }
    }
    for (auto& back : p.server->flush(p.now)) to_client.push_back(std::move(back));
    for (auto& pk : to_client) {
      if (pk.to == moved) ++to_moved;
      for (auto& fwd : p.client->on_datagram(pk.bytes, kServerAddr, p.now)) to_server.push_back(std::move(fwd));
    }
    to_client.clear();
    for (auto& e : p.client->take_events())
      if (e.kind == SessionEvent::Kind::Message && e.stream == *stream) echoed = text(e.data);
    for (auto& fwd : p.client->flush(p.now)) to_server.push_back(std::move(fwd));
    p.now += milliseconds(10);
    for (auto& fwd : p.client->on_timer(p.now)) to_server.push_back(std::move(fwd));
    for (auto& back : p.server->on_timer(p.now)) to_client.push_back(std::move(back));
  }
  EXPECT_EQ(echoed, "after the move");
  EXPECT_GT(to_moved, 0u);  // the server validated and answered the new address
  EXPECT_EQ(p.server->remote(), moved);
  EXPECT_FALSE(p.server->closed());
}

TEST(QuicSession, AWrongPinnedServerKeyFailsTheHandshakeOnBothSides) {
  Pair p;
  auto stranger = DeviceKey::generate();
  p.make(stranger.public_key(), p.client_key.public_key());  // the client expects another key
  p.start();
  p.run(milliseconds(2000));
  EXPECT_FALSE(p.client->established());
  EXPECT_FALSE(p.server->established());
  ASSERT_TRUE(p.client->closed());
  EXPECT_TRUE(p.client->close_info()->pin_mismatch);
  EXPECT_TRUE(p.client->close_info()->handshake_failed);
  ASSERT_TRUE(p.server->closed());
  EXPECT_TRUE(p.server->close_info()->handshake_failed);
  EXPECT_NE(p.server->close_info()->reason.find("refused the TLS handshake"), std::string::npos)
      << p.server->close_info()->reason;
  EXPECT_FALSE(p.client->send_message(view("secret")));
}

TEST(QuicSession, AWrongPinnedClientKeyFailsTheHandshakeOnBothSides) {
  Pair p;
  auto stranger = DeviceKey::generate();
  p.make(p.server_key.public_key(), stranger.public_key());  // the server expects another client
  p.start();
  p.run(milliseconds(2000));
  EXPECT_FALSE(p.server->established());
  ASSERT_TRUE(p.server->closed());
  EXPECT_TRUE(p.server->close_info()->pin_mismatch);
  // The client's TLS may have finished, but the server never confirmed it: never established.
  EXPECT_FALSE(p.client->established());
  ASSERT_TRUE(p.client->closed());
  EXPECT_TRUE(p.client->close_info()->handshake_failed);
}

TEST(QuicSession, WithoutAPinTheSessionIsEncryptedButReportedUnauthenticated) {
  Pair p;
  p.make(std::nullopt, std::nullopt, milliseconds(30000), /*client_has_key=*/false);
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.client->established());
  ASSERT_TRUE(p.server->established());
  EXPECT_FALSE(p.client->peer_authenticated());
  EXPECT_FALSE(p.server->peer_authenticated());
  EXPECT_EQ(p.client->peer_certificate_key(), p.server_key.public_key());
}

TEST(QuicSession, APeerThatGoesSilentIsReportedAsIdleTimeoutWithinTheConfiguredTime) {
  Pair p;
  // Keepalives every second: RFC 9000 would let the first one after the last packet heard restart
  // the idle timer; the session still closes `idle` after that packet.
  p.make(p.server_key.public_key(), p.client_key.public_key(), milliseconds(3000), true, milliseconds(1000));
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.server->established());
  auto silent_from = p.last_to_server;  // the idle period counts from the last packet heard
  p.drop_to_server = true;              // the client vanishes: nothing reaches the server any more
  p.client.reset();
  p.client = nullptr;
  p.drive_server_alone(milliseconds(10000));
  ASSERT_TRUE(p.server->closed());
  EXPECT_TRUE(p.server->close_info()->idle_timeout);
  auto took = std::chrono::duration_cast<milliseconds>(p.now - silent_from);
  EXPECT_GE(took.count(), 3000);
  EXPECT_LE(took.count(), 3000 + 50);  // measured from the last packet heard, not restarted by keepalives
}

// RFC 9000 §10.1: the idle timeout in force is the smaller of the two sides'. A server configured
// for 60 s facing a client that announced 2 s closes after 2 s, and says so (it said 60000 ms).
TEST(QuicSession, TheShorterOfBothIdleTimeoutsIsTheOneInForceAndReported) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key(), milliseconds(2000), true, milliseconds(0),
         milliseconds(60000));
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.server->established());
  auto silent_from = p.last_to_server;
  p.drop_to_server = true;
  p.client.reset();
  p.drive_server_alone(milliseconds(70000));
  ASSERT_TRUE(p.server->closed());
  EXPECT_TRUE(p.server->close_info()->idle_timeout);
  auto took = std::chrono::duration_cast<milliseconds>(p.now - silent_from);
  EXPECT_LT(took.count(), 60000) << "the server waited for its own idle timeout, not the shorter one";
  EXPECT_EQ(p.server->close_info()->reason, "idle timeout: nothing from the peer for 2000 ms");
}

TEST(QuicSession, GarbageAndStrayPacketsAreIgnoredWithoutClosing) {
  Pair p;
  p.make(p.server_key.public_key(), p.client_key.public_key());
  Bytes junk(200, std::byte{0x5a});
  EXPECT_TRUE(p.server->on_datagram(junk, kClientAddr, p.now).empty());
  EXPECT_FALSE(p.server->closed());
  p.start();
  p.run(milliseconds(200));
  ASSERT_TRUE(p.server->established());
  for (int i = 0; i < 50; ++i) {
    junk[static_cast<std::size_t>(i)] = std::byte{static_cast<unsigned char>(i * 37)};
    p.server->on_datagram(junk, kClientAddr, p.now);
    p.client->on_datagram(junk, kServerAddr, p.now);
  }
  EXPECT_FALSE(p.server->closed());
  EXPECT_FALSE(p.client->closed());
}

TEST(StunDemux, StunMessagesAreStunAndQuicPacketsOfManyConnectionsAreNot) {
  TransactionId txid{};
  txid[0] = std::byte{7};
  MessageBuilder b(stun::method::kBinding, stun::MessageClass::Request, txid);
  auto req = b.finish();
  EXPECT_TRUE(looks_like_stun(req));
  auto longer = req;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(looks_like_stun(longer));  // the length field no longer matches
  auto no_cookie = req;
  no_cookie[5] = std::byte{0};
  EXPECT_FALSE(looks_like_stun(no_cookie));

  // ngtcp2 0.12 greases the QUIC bit on about half of its connections: over 40 connections, none
  // of their packets may be taken for STUN.
  std::size_t packets = 0;
  for (int i = 0; i < 40; ++i) {
    Pair p;
    p.make(p.server_key.public_key(), p.client_key.public_key());
    p.start();
    p.run(milliseconds(100));
    ASSERT_TRUE(p.client->established());
    auto s = p.client->send_message(view("ping"));
    ASSERT_TRUE(s);
    p.deliver(p.client->flush(p.now), *p.server, kClientAddr);
    EXPECT_EQ(p.looked_like_stun, 0u);
    packets += p.packets;
  }
  EXPECT_GT(packets, 200u);
  std::array<std::byte, 8> cid{};
  cid[3] = std::byte{0x21}, cid[4] = std::byte{0x12}, cid[5] = std::byte{0xA4}, cid[6] = std::byte{0x42};
  EXPECT_TRUE(cid_mimics_stun(cid));
}

}  // namespace
}  // namespace natpunch

namespace natpunch {
namespace {

// The numbered DATAGRAM stream's counter: distinct ones, repeats, gaps; short payloads and
// sequence numbers beyond the bound are not counted (its memory stays bounded).
TEST(DatagramCount, CountsDistinctRepeatsAndGaps) {
  DatagramCount c;
  for (std::uint64_t seq : {0u, 1u, 2u, 2u, 5u, 1u}) c.count(numbered_datagram(seq));
  EXPECT_EQ(c.received, 4u);
  EXPECT_EQ(c.duplicates, 2u);
  EXPECT_EQ(c.highest, 6u);
  EXPECT_EQ(c.highest - c.received, 2u);  // 3 and 4 missing
  c.count(Bytes(7));
  c.count(numbered_datagram(kMaxCountedDatagrams));
  EXPECT_EQ(c.received, 4u);
  EXPECT_EQ(numbered_datagram(0x0102030405060708ull), (Bytes{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                                                             std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8}}));
}

}  // namespace
}  // namespace natpunch
