// The HTTP side every example shares: a small HTTP/1.1 server (Boost.Beast)
// that hands each request, body read in full, to a handler and writes back
// what it returns; plus the environment and JSON-line helpers the examples
// use. Kept apart from zeroscale's own libraries on purpose: an example
// builds with a compiler, Boost and nlohmann-json alone (see the example
// Dockerfiles).
//
// Lifecycle: Serve() binds $PORT (8080), serves until SIGTERM or SIGINT, then
// stops accepting, closes idle keep-alive connections, lets requests in
// flight finish and returns. One thread per connection: the handler may
// block (run a submission, call Redis) without holding up other
// connections. The handler is called from several threads at once and must
// be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace zs::examples {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // "/message"
  std::string query;                           // without the '?'
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  // The value of the header `lower_name`, or "" when absent.
  std::string Header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// A JSON answer (one line, newline-terminated).
Response Json(int status, const nlohmann::json& body);
// {"error": message} with `status`.
Response Error(int status, std::string_view message);

using Handler = std::function<Response(const Request&)>;

// Serves until SIGTERM/SIGINT; returns the process exit code (0 after a
// clean stop, 1 when it cannot listen). GET /healthz answers "ok" without
// calling the handler; a handler that throws gives a 500. Bodies over
// $MAX_BODY_BYTES (1 MiB) get a 413. `name` is the program's, for its logs.
int Serve(std::string_view name, const Handler& handler);

// The environment variable `name`, or `fallback` when unset or empty.
std::string Env(const char* name, std::string_view fallback);
// The environment variable `name` as an integer, or `fallback` when unset,
// empty or not a number.
int64_t EnvInt(const char* name, int64_t fallback);

// Writes `line` as one JSON line on stdout (what a log collector reads),
// with "time" (RFC 3339 UTC, milliseconds) added first. Thread-safe.
void LogJson(const nlohmann::json& line);

// The current time as RFC 3339 UTC with milliseconds.
std::string NowRfc3339();

}  // namespace zs::examples
