// Writes tests/fuzz/corpus/quic_session/: real QUIC flights between two QuicSessions (the client's
// Initial alone, every client→server datagram of a handshake plus a message, and the server's
// answers), in fuzz_quic_session's framing (2-byte length + datagram). Not deterministic (QUIC and
// TLS draw fresh randoms); rerun it only to refresh the seeds.
//   build-san/tests/fuzz/make_session_seeds tests/fuzz/corpus
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "session/quic_session.h"
#include "session_pair.h"

using namespace natpunch;
namespace fs = std::filesystem;

namespace {
void append(Bytes& out, const Bytes& d) {
  out.push_back(std::byte(static_cast<std::uint8_t>(d.size() >> 8)));
  out.push_back(std::byte(static_cast<std::uint8_t>(d.size())));
  out.insert(out.end(), d.begin(), d.end());
}
void write(const fs::path& dir, const std::string& name, const Bytes& b) {
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!f) throw std::runtime_error("cannot write " + (dir / name).string());
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_session_seeds CORPUS_ROOT\n");
    return 2;
  }
  fs::path dir = fs::path(argv[1]) / "quic_session";
  const auto ca = fuzz::client_address();
  const auto sa = fuzz::server_address();
  TimePoint now = fuzz::session_start();
  auto made_client = fuzz::make_session(fuzz::session_config(SessionRole::Client), now);
  auto made_server = fuzz::make_session(fuzz::session_config(SessionRole::Server), now);
  if (!made_client || !made_server) return 1;
  auto& client = made_client.value();
  auto& server = made_server.value();
  Bytes to_server, to_client, initial;
  auto flight = client->start(now);
  append(initial, flight.at(0).bytes);
  bool sent_message = false;
  for (int round = 0; round < 10 && !flight.empty(); ++round) {
    std::vector<OutPacket> back;
    for (auto& p : flight) {
      append(to_server, p.bytes);
      for (auto& q : server->on_datagram(p.bytes, ca, now)) back.push_back(std::move(q));
    }
    for (auto& q : server->flush(now)) back.push_back(std::move(q));
    flight.clear();
    for (auto& p : back) {
      append(to_client, p.bytes);
      for (auto& q : client->on_datagram(p.bytes, sa, now)) flight.push_back(std::move(q));
    }
    client->take_events();
    if (client->established() && !sent_message) {
      std::string m = "hello";
      (void)client->send_message(as_bytes(m));
      sent_message = true;
    }
    for (auto& q : client->flush(now)) flight.push_back(std::move(q));
    now += std::chrono::milliseconds(10);
  }
  write(dir, "client-initial", initial);
  write(dir, "client-flights", to_server);
  write(dir, "server-flights", to_client);
  return client->established() && server->established() ? 0 : 1;
}
