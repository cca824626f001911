// WebSocket routes as handlers see them: plain interfaces, no Beast types. The server checks a
// WebSocket route like any other (route, credentials, Origin, live-client caps) on the upgrade
// request's header, before it answers 101; only then does the handler meet the client.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace scope::http {

struct Request;

// Close codes (RFC 6455) scope uses.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseUnsupportedData = 1003;  // a binary message
inline constexpr uint16_t kClosePolicy = 1008;           // a malformed message, a slow client
inline constexpr uint16_t kCloseTooBig = 1009;           // a message over the route's limit

// The subprotocol a client offers (Sec-WebSocket-Protocol) and the server echoes. A browser
// cannot set Authorization on a WebSocket: it offers "scope.v1, bearer.<token>" instead, and
// only "scope.v1" comes back. The token never goes in the URL (URLs land in access logs).
inline constexpr std::string_view kWebSocketSubprotocol = "scope.v1";
inline constexpr std::string_view kBearerSubprotocolPrefix = "bearer.";

// The server's side of one open WebSocket. Thread-safe, and never blocks: a publisher thread
// may call it while the connection's own thread writes.
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  // Queues a text message. false, and nothing queued, when the client's queue is full (it reads
  // slower than it is sent to) or the socket is closing. A message may be queued to many
  // clients at once: it is shared, not copied per client.
  virtual bool try_send(std::shared_ptr<const std::string> text) = 0;
  bool try_send(std::string text) {
    return try_send(std::make_shared<const std::string>(std::move(text)));
  }
  // Messages queued and not yet written to the socket.
  virtual size_t queued() const = 0;
  // Messages written to the socket so far: no progress while some are queued is a stalled client.
  virtual uint64_t written() const = 0;
  // Drops what is queued and closes with `code` and `reason` (at most 123 bytes); a client
  // that does not take the close frame within a grace period is disconnected. Idempotent.
  virtual void close(uint16_t code, std::string reason) = 0;
  virtual bool closed() const = 0;
};

// What a handler does with one client. Called on the connection's thread, one call at a time.
class WebSocketListener {
 public:
  virtual ~WebSocketListener() = default;
  // A text message within the route's size limit. Empty: go on; otherwise the reason the
  // message is refused, and the server closes with 1008 (policy violation) and that reason.
  virtual std::string on_message(std::string_view text) = 0;
  // The connection ended (either side, or an error); the peer takes no more messages.
  virtual void on_close() = 0;
};

// Called once the upgrade is accepted, with the request (its principal set) and the peer.
using WebSocketHandler = std::function<std::shared_ptr<WebSocketListener>(
    const Request& request, std::shared_ptr<WebSocketPeer> peer)>;

struct WebSocketLimits {
  size_t max_message_bytes = 4096;  // from the client; larger: closed with 1009
  // What may wait for a slow client (the handler decides what to do when it is full).
  size_t max_queued_messages = 256;
  size_t max_queued_bytes = 8 << 20;
  // No frame from the client for this long (a ping is sent halfway): closed.
  std::chrono::milliseconds idle_timeout{30000};
  // A close the client does not take in this long: the connection is dropped.
  std::chrono::milliseconds close_grace{2000};
};

}  // namespace scope::http
