//! The built-in services' descriptors: the seed's four servers as cores, the line-framed
//! `lines`, and the `seed4-literal` bug exhibit. They register exactly as a user's services
//! do.

use super::ServiceDescriptor;
use super::oracle::{AckModel, EchoModel, Greeting, lines_model};
use super::protocol::{Deadline, Protocol};
use crate::core::lines::{DEFAULT_MAX_LINE, DEFAULT_REQUEST_TIMEOUT, Lines, TIMED_OUT};
use crate::core::{GREETING, ack, echo, greet, lines, seed4, sink};

/// The seed's servers answer unframed chunks after `hello`.
fn seed_protocol() -> Protocol {
    Protocol::chunks().greeting(GREETING.to_vec())
}

pub(super) fn all() -> Vec<ServiceDescriptor> {
    vec![
        ServiceDescriptor::new("greet", |_| greet::Greet::default())
            .about("seed server 1: send \"hello\" on connect, then close once it is flushed")
            .protocol(seed_protocol())
            .oracle(Greeting(GREETING.to_vec())),
        ServiceDescriptor::new("sink", |_| sink::Sink::default())
            .about("seed server 2: greet, log what each client sends, close on EOF")
            .protocol(seed_protocol())
            .oracle(Greeting(GREETING.to_vec())),
        ServiceDescriptor::new("ack", |_| ack::Ack::default())
            .about("seed server 3: greet, answer each received chunk with \"response\"")
            .protocol(seed_protocol())
            .oracle(AckModel),
        ServiceDescriptor::new("echo", |_| echo::Echo::default())
            .about("seed server 4, fixed: greet, answer each chunk with chunk + \"response\", in order")
            .protocol(seed_protocol())
            .oracle(EchoModel),
        ServiceDescriptor::new("lines", |options| {
            Lines::with_limits(
                options.usize("max-line"),
                options.millis("request-timeout-ms"),
            )
        })
        .about("line-framed: greet \"hello\\n\", answer each line L with \"Lresponse\\n\"")
        .option(
            "max-line",
            DEFAULT_MAX_LINE as u64,
            "longest line accepted, in bytes; a longer one gets an error and a close",
        )
        .option(
            "request-timeout-ms",
            DEFAULT_REQUEST_TIMEOUT.as_millis() as u64,
            "how long a line may stay incomplete, in milliseconds (0: forever)",
        )
        .protocol_with(|options| {
            let max_line = options.usize("max-line");
            let mut protocol = Protocol::lines()
                .greeting(lines::GREETING.to_vec())
                .max_message(max_line, Lines::too_long_message(max_line));
            if let Some(timeout) = options.millis("request-timeout-ms") {
                protocol = protocol.deadline(Deadline::incomplete(timeout).reply(TIMED_OUT.to_vec()));
            }
            protocol
        })
        .oracle(lines_model()),
        ServiceDescriptor::new("seed4-literal", |_| seed4::Seed4Literal::default())
            .about("seed server 4 ported with its bugs (LIFO answers, crash on close)")
            .protocol(seed_protocol())
            .oracle(EchoModel)
            .exhibit(),
    ]
}
