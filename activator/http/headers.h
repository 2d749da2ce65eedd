// Part of stage 4, forward: how a request head is rewritten on its way to a
// replica and a response head on its way back. Pure functions over Beast
// messages, shared by the proxy and the request-parsing fuzz target.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "activator/admission/lookup.h"
#include "activator/http/http_types.h"

namespace zs::activator {

// X-Request-Id: a client's value is kept when it is 1..128 visible ASCII
// characters; otherwise a new UUIDv4-formatted id.
std::string RequestIdFor(std::string_view client_value);
std::string NewRequestId();

// Rewrites the client's request head for the replica: origin-form target
// from the route, hop-by-hop fields (Connection and what it names,
// Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Expect) and
// Proxy-Authorization removed,
// X-Forwarded-For appended with `client_ip`, X-Forwarded-Proto ("http") and
// X-Forwarded-Host (the Host) set unless present, X-Request-Id set, HTTP/1.1
// keep-alive. Transfer-Encoding/Content-Length stay: the body is relayed with
// the framing it came with. A non-empty `upgrade` (framing.h's
// UpgradeToForward) is sent on as `Upgrade: <upgrade>` with `Connection: upgrade`.
void PrepareUpstreamRequest(Request& request, const Route& route, std::string_view client_ip,
                            std::string_view request_id, std::string_view upgrade = {});

// Set by an activator that relays a request for a capped Function to the
// activator owning it (admission/placement.h), with its own id. The owner
// serves such a request itself (it is never relayed twice) when it comes
// from a member's address; a client cannot set it to skip the owner.
inline constexpr std::string_view kRelayedByHeader = "X-Zeroscale-Relayed-By";
// Removes every X-Zeroscale-Relayed-By; returns whether there was one.
bool TakeRelayMark(Request& request);
// Set by the triggers component on every invocation it sends (a schedule's
// tick, a broker message): the trigger's name.
inline constexpr std::string_view kTriggerHeader = "X-Zeroscale-Trigger";
// The trigger a request names, when exactly one X-Zeroscale-Trigger names one
// of `triggers` (the Function's spec.triggers names); "" otherwise. It marks
// the billing line only: a client that sends it changes that mark, never
// what is billed.
std::string TriggerOf(const Request& request, const std::vector<std::string>& triggers);
// Rewrites the client's request head for the owner activator: hop-by-hop
// fields, Expect (answered here) and Proxy-Authorization removed, an
// Upgrade re-added as PrepareUpstreamRequest does, X-Forwarded-For appended
// with `client_ip`, X-Zeroscale-Relayed-By: `self`, HTTP/1.1. Target, Host
// and X-Request-Id stay as the client sent them: the owner routes, meters
// and names the invocation as if the client had come to it.
void PrepareRelayRequest(Request& request, std::string_view client_ip, std::string_view self,
                         std::string_view upgrade);

// Rewrites the replica's response head for the client: hop-by-hop fields
// removed, X-Request-Id set (left as it came when `request_id` is empty: a
// relayed response carries the owner's), the client's HTTP version, and a Connection
// field that says `keep_alive` (the caller decided it with framing.h, which
// also set the body's framing fields).
void PrepareClientResponse(Response& response, std::string_view request_id, unsigned client_version,
                           bool keep_alive);

// Rewrites a replica's 101 for the client: hop-by-hop fields removed but the
// replica's Upgrade kept, `Connection: upgrade`, X-Request-Id set. The rest
// of the connection is the upgraded protocol's.
void PrepareSwitchingResponse(Response& response, std::string_view request_id);

}  // namespace zs::activator
