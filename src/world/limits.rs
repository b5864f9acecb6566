//! The limits of a run that transcripts (`limit NAME VALUE`) and the command line
//! (`--limit NAME=VALUE`) can set, in one table: the name, what it means, the smallest value
//! that makes sense, and where it lives in a [`WorldConfig`]. Services declare limits of their
//! own (see `crate::service`); these are the driver's and the simulated network's.

use std::time::Duration;

use super::WorldConfig;

/// Where a limit applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// The driver: on real sockets as in the simulator.
    Driver,
    /// The simulator only.
    Simulator,
}

/// One limit of the table.
#[derive(Clone, Copy)]
pub struct Limit {
    /// Its name.
    pub(crate) name: &'static str,
    /// What it means, for help texts.
    pub(crate) help: &'static str,
    /// The smallest value accepted.
    pub(crate) min: u64,
    /// Where it applies.
    pub(crate) scope: Scope,
    get: fn(&WorldConfig) -> u64,
    set: fn(&mut WorldConfig, u64),
}

impl Limit {
    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What it means, for help texts.
    pub fn help(&self) -> &'static str {
        self.help
    }

    /// The smallest value accepted.
    pub fn min(&self) -> u64 {
        self.min
    }

    /// Where it applies.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

impl std::fmt::Debug for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn as_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn ms(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Every limit.
pub const LIMITS: &[Limit] = &[
    Limit {
        name: "max-conns",
        help: "connections served at once; later clients read a refusal and are closed",
        min: 1,
        scope: Scope::Driver,
        get: |c| c.driver.max_conns as u64,
        set: |c, v| c.driver.max_conns = as_usize(v),
    },
    Limit {
        name: "read-budget",
        help: "bytes read from one connection per turn",
        min: 1,
        scope: Scope::Driver,
        get: |c| c.driver.read_budget as u64,
        set: |c, v| c.driver.read_budget = as_usize(v),
    },
    Limit {
        name: "high-water",
        help: "bytes of pending output above which a connection is no longer read",
        min: 0,
        scope: Scope::Driver,
        get: |c| c.driver.out_high_water as u64,
        set: |c, v| c.driver.out_high_water = as_usize(v),
    },
    Limit {
        name: "hard-limit",
        help: "bytes of pending output at which a connection is cut",
        min: 1,
        scope: Scope::Driver,
        get: |c| c.driver.out_hard_limit as u64,
        set: |c, v| c.driver.out_hard_limit = as_usize(v),
    },
    Limit {
        name: "idle-timeout-ms",
        help: "close a connection idle this long, in milliseconds (0: never)",
        min: 0,
        scope: Scope::Driver,
        get: |c| ms(c.driver.idle_timeout),
        set: |c, v| c.driver.idle_timeout = (v > 0).then(|| Duration::from_millis(v)),
    },
    Limit {
        name: "linger-ms",
        help: "how long a lingering close waits for the client's EOF, in milliseconds",
        min: 0,
        scope: Scope::Driver,
        get: |c| ms(Some(c.driver.linger)),
        set: |c, v| c.driver.linger = Duration::from_millis(v),
    },
    Limit {
        name: "buffer",
        help: "bytes in flight per direction of a simulated connection (socket buffers)",
        min: 1,
        scope: Scope::Simulator,
        get: |c| c.sim.buffer as u64,
        set: |c, v| c.sim.buffer = as_usize(v),
    },
    Limit {
        name: "backlog",
        help: "connections the simulated listener queues before connects wait",
        min: 1,
        scope: Scope::Simulator,
        get: |c| c.sim.backlog as u64,
        set: |c, v| c.sim.backlog = as_usize(v),
    },
    Limit {
        name: "steps",
        help: "scheduler steps before a simulated run is declared stuck",
        min: 1,
        scope: Scope::Simulator,
        get: |c| c.max_steps,
        set: |c, v| c.max_steps = v,
    },
];

impl Limit {
    /// The limit named `name`.
    pub fn find(name: &str) -> Option<&'static Limit> {
        LIMITS.iter().find(|l| l.name == name)
    }

    /// The limit's value in `config`.
    pub fn value(&self, config: &WorldConfig) -> u64 {
        (self.get)(config)
    }

    /// Sets the limit in `config`; an error when `value` is below the smallest it accepts.
    pub fn apply(&self, config: &mut WorldConfig, value: u64) -> Result<(), String> {
        if value < self.min {
            return Err(format!(
                "limit `{}` must be at least {} (got {value})",
                self.name, self.min
            ));
        }
        (self.set)(config, value);
        Ok(())
    }

    /// The names of every limit, for messages.
    pub fn names() -> String {
        LIMITS.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
    }
}

/// The limits whose value in `config` differs from the simulator's defaults, in table order:
/// what a transcript needs to say to reproduce `config`.
pub fn changed(config: &WorldConfig) -> Vec<(&'static str, u64)> {
    let defaults = WorldConfig::default();
    LIMITS
        .iter()
        .filter(|l| l.value(config) != l.value(&defaults))
        .map(|l| (l.name, l.value(config)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_reads_back_what_it_set() {
        for limit in LIMITS {
            let mut config = WorldConfig::default();
            let value = limit.min.max(7);
            limit.apply(&mut config, value).unwrap();
            assert_eq!(limit.value(&config), value, "{}", limit.name);
            assert_eq!(changed(&config), vec![(limit.name, value)]);
            if limit.min > 0 {
                assert!(limit.apply(&mut config, limit.min - 1).is_err());
            }
        }
    }
}
