//! The kvstore specification as a model, written apart from the service: from the lines a
//! client sent, what it must receive. muxsim's [`RequestResponse`] oracle runs it per client
//! and adds what the protocol declares: the greeting, framing, the line limit and its error,
//! and the idle deadline that alone may close a connection early.

use std::collections::BTreeMap;

use muxsim::{Reply, RequestResponse};

fn answer(text: &[u8]) -> Reply {
    Reply::answer([text, b"\r\n"].concat())
}

/// The reply to one line (without its `\n`), given the client's keys.
pub fn reply(keys: &mut BTreeMap<Vec<u8>, Vec<u8>>, request: &[u8]) -> Reply {
    let line = request.strip_suffix(b"\r").unwrap_or(request);
    let words: Vec<&[u8]> = line.splitn(3, |&b| b == b' ').collect();
    match words.as_slice() {
        [b""] => answer(b"ERR empty line"),
        [b"PING"] => answer(b"PONG"),
        [b"QUIT"] => Reply::close(b"BYE\r\n".to_vec()),
        [b"SET", key, value] => {
            keys.insert(key.to_vec(), value.to_vec());
            answer(b"OK")
        }
        [b"GET", key] => match keys.get(*key) {
            Some(value) => answer(&[b"VALUE ", value.as_slice()].concat()),
            None => answer(b"NIL"),
        },
        [b"DEL", key] => match keys.remove(*key) {
            Some(_) => answer(b"DELETED"),
            None => answer(b"NIL"),
        },
        [b"SET", ..] => answer(b"ERR usage: SET key value"),
        [b"GET", ..] => answer(b"ERR usage: GET key"),
        [b"DEL", ..] => answer(b"ERR usage: DEL key"),
        _ => answer(b"ERR unknown command"),
    }
}

/// The oracle: every complete line answered in order by [`reply`], keys kept per client.
pub fn model() -> RequestResponse {
    RequestResponse::stateful(BTreeMap::new, reply)
}
