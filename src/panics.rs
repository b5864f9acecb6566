//! Panics of a service's code caught as verdicts: quietly (no message on stderr while a
//! simulation step or a served connection runs it), with the panic's message kept.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static IN_SIMULATION: Cell<bool> = const { Cell::new(false) };
}

/// Panics inside a simulated service are verdicts, not noise on stderr: this hook keeps
/// quiet while a simulation step runs and defers to the previous hook otherwise.
pub(crate) fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_SIMULATION.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching a panic quietly (no message on stderr): `Err` holds its message.
pub(crate) fn catch_quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_payload(f).map_err(|payload| panic_message(payload.as_ref()))
}

/// Runs `f`, catching a panic quietly: `Err` holds its payload.
pub(crate) fn catch_payload<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn std::any::Any + Send>> {
    install_quiet_panic_hook();
    let was = IN_SIMULATION.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    IN_SIMULATION.with(|q| q.set(was));
    result
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}
