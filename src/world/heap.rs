//! The heap check (see [`crate::heap`]): a passing run is played a second time on the same
//! service, with connection ids it has never seen, and fails when the service holds more
//! blocks after the second run than after the first.

use std::collections::BTreeMap;

use super::{Failure, Play, Run, ScriptError, Verdict, World, WorldConfig};
use crate::backend::Token;
use crate::core::Service;
use crate::heap::{Block, Watch};
use crate::text::format_duration;

/// Runs `play` against `service`, with the heap check when [`crate::CountingAllocator`] is
/// installed.
pub(crate) fn run_watching_heap<S: Service>(
    config: WorldConfig,
    service: S,
    play: Play,
) -> Result<Run, ScriptError> {
    let watch = if config.heap_check {
        Watch::start()
    } else {
        None
    };
    let Some(watch) = watch else {
        return World::new(config, service, play).map(World::run);
    };
    let again = (config.clone(), play.clone());
    let (mut run, driver) = World::new(config, service, play)?.run_keeping();
    if !run.verdict.is_pass() {
        return Ok(run);
    }
    let (backend, service, next) = driver.into_parts();
    drop(backend);
    let first = watch.live();
    if first.is_empty() {
        // Nothing the service allocated outlived its calls: nothing can have leaked.
        return Ok(run);
    }
    let (mut config, play) = again;
    config.record = false;
    let (second_run, driver) = World::numbered_from(config, service, play, next)?.run_keeping();
    let (backend, service, _) = driver.into_parts();
    let second = watch.live();
    drop(service);
    // A second run that went otherwise cannot be compared: it may have ended with
    // connections open.
    if !second_run.verdict.is_pass() {
        return Ok(run);
    }
    // Blocks, not bytes: a map that rehashes may come back larger (hashbrown grows a table
    // full of tombstones), but it replaces one block by one. State kept for a connection that
    // is gone is a block more per connection.
    if second.len() <= first.len() {
        return Ok(run);
    }
    // The blocks the second run made and left, by the connection whose call made them. A
    // block made by a call that freed an older one may be a replacement (a map's larger
    // table): it names the leak only when nothing else does.
    let mut by_conn: BTreeMap<(bool, Option<u64>), Vec<Block>> = BTreeMap::new();
    for (address, block) in &second {
        if first.get(address).is_none_or(|f| f.tag != block.tag) {
            let new = !watch.maybe_replacement(block.seq);
            by_conn
                .entry((new, block.tag.conn.map(|c| c.to_raw())))
                .or_default()
                .push(*block);
        }
    }
    // The first connection (in the order its blocks were made) that left something new.
    let Some(((_, conn), blocks)) = by_conn.into_iter().max_by_key(|((new, conn), blocks)| {
        let first_seq = blocks.iter().map(|b| b.seq).min().unwrap_or(0);
        (*new, conn.is_some(), std::cmp::Reverse(first_seq))
    }) else {
        return Ok(run);
    };
    let earliest = blocks.iter().min_by_key(|b| b.tag.at).map(|b| b.tag);
    let client = conn.and_then(|raw| {
        let id = backend.net.client_of_token(Token(raw))?;
        second_run.clients.get(id.index()).map(|c| c.name.clone())
    });
    let call = earliest.map_or_else(String::new, |t| {
        format!(
            "{} at {}",
            t.call_name(),
            format_duration(t.at.since_start())
        )
    });
    run.verdict = Verdict::Fail(Failure::HeapLeak {
        more: (second.len() - first.len()) as u64,
        client,
        blocks: blocks.len() as u64,
        bytes: blocks.iter().map(|b| b.size as u64).sum(),
        call,
    });
    Ok(run)
}
