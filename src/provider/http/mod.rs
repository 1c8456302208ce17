//! HTTP for the network providers, one job a file:
//!
//! * [`transport`]: how a request travels: the client (timeouts, pool,
//!   same-origin redirects, proxies), URLs, headers, bounded body reads and
//!   transport errors;
//! * [`api_error`]: what an API says went wrong: error bodies with their
//!   `Retry-After`, error objects in streams and successful answers;
//! * [`json`]: the JSON helpers the APIs share (compact text, sorted keys
//!   for request keys, token counts);
//! * [`chat`]: the endpoint and request flow of the chat APIs (`openai`,
//!   `anthropic`);
//! * [`direct`]: the lean HTTP/1.1 client of a chat endpoint over plain
//!   `http://` with no proxy, its sockets stamping when bytes move;
//! * [`response`]: an answer as the readers see it, from either client;
//! * [`generic`]: the generic `http` provider type.
//!
//! Every message built here passes through [`crate::secret::redact`]: URLs
//! may hold a secret expanded from `${NAME}` and error bodies may echo a key.
//! A URL is only ever quoted as configured (unencoded, then redacted), never
//! as `reqwest` formats it: percent-encoding (`a b` → `a%20b`) would hide a
//! secret from redaction, so `reqwest` errors are stripped of their URL.

pub(crate) mod api_error;
pub(crate) mod chat;
pub(crate) mod direct;
pub(crate) mod generic;
pub(crate) mod json;
pub(crate) mod response;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod transport;

pub(crate) use generic::HttpApi;
