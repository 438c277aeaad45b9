//! A node's name in the fleet: `spiffe://<fleet>/<role>/<name>`, the one URI SAN of its
//! certificate.
use std::fmt;
use std::str::FromStr;

use crate::IdentityError;

/// What a certificate's holder is: on the bridge, cloud nodes send signals and local nodes take
/// them; an operator is a person (or their tool, `qpctl status`) on a node's management API and
/// is never a bridge peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Cloud,
    Local,
    /// A management-API client only: its certificate is for client authentication alone, and
    /// the bridge's configurations neither accept it nor can be built from it.
    Operator,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Cloud => "cloud",
            Role::Local => "local",
            Role::Operator => "operator",
        }
    }

    /// A node (cloud or local), as opposed to an operator.
    pub fn is_node(&self) -> bool {
        matches!(self, Role::Cloud | Role::Local)
    }

    /// The role a node of this role talks to over the bridge; an operator has none.
    pub fn peer(&self) -> Option<Role> {
        match self {
            Role::Cloud => Some(Role::Local),
            Role::Local => Some(Role::Cloud),
            Role::Operator => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cloud" => Ok(Role::Cloud),
            "local" => Ok(Role::Local),
            "operator" => Ok(Role::Operator),
            other => {
                Err(IdentityError::Name { what: "role", value: other.to_owned(), rule: "cloud, local or operator" })
            }
        }
    }
}

/// A node's identity: its fleet, role and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId {
    fleet: String,
    role: Role,
    name: String,
}

/// Names are DNS-label-like: what every tool, log and URI carries without quoting.
const NAME_RULE: &str = "1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'";

fn check_label(what: &'static str, value: &str) -> Result<(), IdentityError> {
    let ok = (1..=63).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok { Ok(()) } else { Err(IdentityError::Name { what, value: value.to_owned(), rule: NAME_RULE }) }
}

impl NodeId {
    pub fn new(fleet: &str, role: Role, name: &str) -> Result<Self, IdentityError> {
        check_label("fleet", fleet)?;
        check_label("node name", name)?;
        Ok(Self { fleet: fleet.to_owned(), role, name: name.to_owned() })
    }

    pub fn fleet(&self) -> &str {
        &self.fleet
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `spiffe://<fleet>/<role>/<name>`.
    pub fn uri(&self) -> String {
        format!("spiffe://{}/{}/{}", self.fleet, self.role, self.name)
    }

    /// Parses what [`NodeId::uri`] writes; anything else is refused.
    pub fn from_uri(uri: &str) -> Result<Self, IdentityError> {
        let bad = || IdentityError::Name {
            what: "SPIFFE ID",
            value: uri.to_owned(),
            rule: "spiffe://<fleet>/<cloud|local|operator>/<name>",
        };
        let rest = uri.strip_prefix("spiffe://").ok_or_else(bad)?;
        let mut parts = rest.split('/');
        let (Some(fleet), Some(role), Some(name), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Self::new(fleet, role.parse()?, name)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}
