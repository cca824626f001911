// A small WebSocket client (Boost.Beast) for tests and benchmarks of the live stream: upgrade
// with chosen headers, send a text message, read messages with a deadline, see how it closed.
// Every call has a deadline: a test never hangs on a server that says nothing.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace scope::testnet {

class WsClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Upgrades GET `target` on 127.0.0.1:`port`: the HTTP status (101 when accepted, 0 when the
  // connection failed); the answer is in response().
  int connect(int port, const Headers& headers, const std::string& target = "/api/v1/live",
              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    namespace asio = boost::asio;
    auto& tcp = boost::beast::get_lowest_layer(ws_);
    tcp.expires_after(timeout);
    boost::beast::error_code ec;
    tcp.socket().connect({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)}, ec);
    if (ec) return 0;
    ws_.set_option(boost::beast::websocket::stream_base::decorator(
        [headers](boost::beast::websocket::request_type& req) {
          for (const auto& [name, value] : headers) req.set(name, value);
        }));
    ws_.read_message_max(64 << 20);
    bool done = false;
    ws_.async_handshake(response_, "127.0.0.1:" + std::to_string(port), target,
                        [&](boost::beast::error_code e) {
                          ec = e;
                          done = true;
                        });
    run(done);
    last_error_ = ec;
    if (!ec) tcp.expires_never();
    return response_.result_int();
  }

  const boost::beast::websocket::response_type& response() const { return response_; }

  bool send(const std::string& text, bool binary = false,
            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    boost::beast::get_lowest_layer(ws_).expires_after(timeout);
    ws_.binary(binary);
    bool done = false;
    boost::beast::error_code ec;
    ws_.async_write(boost::asio::buffer(text), [&](boost::beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    run(done);
    last_error_ = ec;
    return !ec;
  }

  // The next message; nullopt when the connection ended or the deadline passed (error()).
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    boost::beast::get_lowest_layer(ws_).expires_after(timeout);
    bool done = false;
    boost::beast::error_code ec;
    buffer_.clear();
    ws_.async_read(buffer_, [&](boost::beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    run(done);
    last_error_ = ec;
    if (ec) return std::nullopt;
    return boost::beast::buffers_to_string(buffer_.data());
  }

  // Why the last call failed: websocket::error::closed when the server closed with a frame.
  boost::beast::error_code error() const { return last_error_; }
  // The close frame the server sent (code 0 when none came).
  boost::beast::websocket::close_reason close_reason() const { return ws_.reason(); }
  // The server sent a close frame (it may have dropped the connection before our answer).
  bool closed_by_server() const {
    return ws_.reason().code != 0 || last_error_ == boost::beast::websocket::error::closed;
  }

 private:
  void run(const bool& done) {
    ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
  }

  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_{ioc_};
  boost::beast::websocket::response_type response_;
  boost::beast::flat_buffer buffer_;
  boost::beast::error_code last_error_;
};

}  // namespace scope::testnet
