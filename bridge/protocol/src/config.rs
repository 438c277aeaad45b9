//! Connection settings: versions offered, capabilities, and the three timers.

use crate::error::ConfigError;
use crate::record::{MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION};

const SECOND_NS: u64 = 1_000_000_000;

/// What a connection offers and how patient it is. Check it with
/// [`validate`](Self::validate); connections take the checked [`ConnectionSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Lowest protocol version offered (at least [`MIN_PROTOCOL_VERSION`]).
    pub min_version: u16,
    /// Highest protocol version offered (at most [`MAX_PROTOCOL_VERSION`]).
    pub max_version: u16,
    /// Optional features offered (bit set; version 1 defines none, unknown bits are harmless).
    pub capabilities: u64,
    /// Send a heartbeat when nothing was sent for this long.
    pub heartbeat_interval_ns: u64,
    /// The peer is dead when no complete record arrived for this long (also bounds the
    /// hello exchange).
    pub dead_after_ns: u64,
    /// The peer is stalled when it has frames unacknowledged, or holds ours at zero credit,
    /// and no acknowledgement or credit moved for this long (sending side only).
    pub stall_after_ns: u64,
}

impl Default for ConnectionConfig {
    /// Every version this build speaks, no capabilities, a heartbeat each second, dead after
    /// five silent seconds (four missed heartbeats), stalled after ten without progress.
    fn default() -> Self {
        Self {
            min_version: MIN_PROTOCOL_VERSION,
            max_version: MAX_PROTOCOL_VERSION,
            capabilities: 0,
            heartbeat_interval_ns: SECOND_NS,
            dead_after_ns: 5 * SECOND_NS,
            stall_after_ns: 10 * SECOND_NS,
        }
    }
}

impl ConnectionConfig {
    /// Check the settings can work: a non-empty version range this build speaks, no zero
    /// duration, and `dead_after` longer than the heartbeat interval (else a healthy idle
    /// peer would be declared dead).
    pub fn validate(self) -> Result<ConnectionSettings, ConfigError> {
        if self.min_version < MIN_PROTOCOL_VERSION
            || self.max_version > MAX_PROTOCOL_VERSION
            || self.min_version > self.max_version
        {
            return Err(ConfigError::Versions {
                min: self.min_version,
                max: self.max_version,
                supported_min: MIN_PROTOCOL_VERSION,
                supported_max: MAX_PROTOCOL_VERSION,
            });
        }
        for (field, value) in [
            ("heartbeat_interval_ns", self.heartbeat_interval_ns),
            ("dead_after_ns", self.dead_after_ns),
            ("stall_after_ns", self.stall_after_ns),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroDuration { field });
            }
        }
        if self.dead_after_ns <= self.heartbeat_interval_ns {
            return Err(ConfigError::DeadBeforeHeartbeat {
                dead_after_ns: self.dead_after_ns,
                heartbeat_interval_ns: self.heartbeat_interval_ns,
            });
        }
        Ok(ConnectionSettings { config: self })
    }
}

/// A [`ConnectionConfig`] that passed [`validate`](ConnectionConfig::validate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    config: ConnectionConfig,
}

impl ConnectionSettings {
    /// The checked configuration.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_bad_settings_are_named() {
        assert!(ConnectionConfig::default().validate().is_ok());
        let versions = ConnectionConfig { min_version: 1, max_version: 2, ..ConnectionConfig::default() };
        assert!(matches!(versions.validate(), Err(ConfigError::Versions { max: 2, .. })));
        let zero = ConnectionConfig { stall_after_ns: 0, ..ConnectionConfig::default() };
        assert_eq!(zero.validate(), Err(ConfigError::ZeroDuration { field: "stall_after_ns" }));
        let dead = ConnectionConfig { dead_after_ns: SECOND_NS, ..ConnectionConfig::default() };
        assert!(matches!(dead.validate(), Err(ConfigError::DeadBeforeHeartbeat { .. })));
    }
}
