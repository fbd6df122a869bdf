//! A call's parameters, positional or named, checked the way bitcoind checks them, and the
//! error codes bitcoind answers with (its `src/rpc/protocol.h`): a client that handles a real
//! node's errors handles the devnet's.

use std::str::FromStr;

use serde_json::Value;

/// Unexpected failure, and a call with missing or extra arguments (bitcoind then answers
/// with the method's help text; the devnet with its usage line).
pub const RPC_MISC_ERROR: i64 = -1;
/// A parameter of the wrong JSON type.
pub const RPC_TYPE_ERROR: i64 = -3;
/// An unknown block or transaction ("No such mempool or blockchain transaction", "Block not
/// found").
pub const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
/// A parameter of the right type but an unusable value (a height out of range, a hash that
/// is not 64 hex digits).
pub const RPC_INVALID_PARAMETER: i64 = -8;
/// A transaction that does not decode.
pub const RPC_DESERIALIZATION_ERROR: i64 = -22;
/// A transaction spending an unknown or spent output.
pub const RPC_VERIFY_ERROR: i64 = -25;
/// A transaction the mempool refused (fee, script, lock time, replacement rules).
pub const RPC_VERIFY_REJECTED: i64 = -26;
/// A transaction already confirmed.
pub const RPC_VERIFY_ALREADY_IN_CHAIN: i64 = -27;
/// A request that is not a JSON-RPC request object (HTTP 400).
pub const RPC_INVALID_REQUEST: i64 = -32600;
/// An unknown method (HTTP 404).
pub const RPC_METHOD_NOT_FOUND: i64 = -32601;
/// A body that is not JSON.
pub const RPC_PARSE_ERROR: i64 = -32700;

/// A JSON-RPC error: bitcoind's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// One of the `RPC_*` codes.
    pub code: i64,
    /// What went wrong, in bitcoind's words where it has some.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into() }
    }
}

/// The arguments of one call, by position in the method's parameter list.
pub(crate) struct Params<'a> {
    names: &'static [&'static str],
    values: Vec<Option<&'a Value>>,
}

/// bitcoind's names of JSON types, as its type errors print them.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(value: &Value, expected: &str) -> RpcError {
    RpcError::new(
        RPC_TYPE_ERROR,
        format!("JSON value of type {} is not of expected type {expected}", type_name(value)),
    )
}

impl<'a> Params<'a> {
    /// Takes `params` (absent, an array or an object) for a method whose parameters are
    /// `names`, the first `required` of them mandatory. A JSON `null` counts as omitted.
    pub(crate) fn new(
        method: &str,
        params: Option<&'a Value>,
        names: &'static [&'static str],
        required: usize,
    ) -> Result<Params<'a>, RpcError> {
        let mut values = vec![None; names.len()];
        match params {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                if list.len() > names.len() {
                    return Err(usage(method, names, required));
                }
                for (slot, value) in values.iter_mut().zip(list) {
                    *slot = Some(value).filter(|v| !v.is_null());
                }
            }
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let Some(index) = names.iter().position(|n| n == key) else {
                        return Err(RpcError::new(
                            RPC_INVALID_PARAMETER,
                            format!("Unknown named parameter {key}"),
                        ));
                    };
                    values[index] = Some(value).filter(|v| !v.is_null());
                }
            }
            Some(_) => {
                return Err(RpcError::new(RPC_INVALID_REQUEST, "Params must be an array or object"))
            }
        }
        if values.iter().take(required).any(Option::is_none) {
            return Err(usage(method, names, required));
        }
        Ok(Params { names, values })
    }

    fn get(&self, index: usize) -> Option<&'a Value> {
        self.values.get(index).copied().flatten()
    }

    fn name(&self, index: usize) -> &'static str {
        self.names.get(index).copied().unwrap_or("parameter")
    }

    /// A 64-hex-digit hash (a txid or block hash), checked as bitcoind's `ParseHashV`.
    pub(crate) fn hash<T: FromStr>(&self, index: usize) -> Result<T, RpcError> {
        let value = self.get(index).unwrap_or(&Value::Null);
        let text = value.as_str().ok_or_else(|| type_error(value, "string"))?;
        let name = self.name(index);
        if text.len() != 64 {
            return Err(RpcError::new(
                RPC_INVALID_PARAMETER,
                format!("{name} must be of length 64 (not {}, for '{text}')", text.len()),
            ));
        }
        text.parse().map_err(|_| {
            RpcError::new(
                RPC_INVALID_PARAMETER,
                format!("{name} must be hexadecimal string (not '{text}')"),
            )
        })
    }

    /// An optional hash.
    pub(crate) fn opt_hash<T: FromStr>(&self, index: usize) -> Result<Option<T>, RpcError> {
        self.get(index).map(|_| self.hash(index)).transpose()
    }

    /// A string.
    pub(crate) fn str(&self, index: usize) -> Result<&'a str, RpcError> {
        let value = self.get(index).unwrap_or(&Value::Null);
        value.as_str().ok_or_else(|| type_error(value, "string"))
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, index: usize) -> Result<Option<&'a str>, RpcError> {
        self.get(index).map(|_| self.str(index)).transpose()
    }

    /// An integer (negative ones included: bitcoind range-checks them itself).
    pub(crate) fn int(&self, index: usize) -> Result<i64, RpcError> {
        let value = self.get(index).unwrap_or(&Value::Null);
        match value {
            Value::Number(n) => n.as_i64().ok_or_else(|| {
                RpcError::new(RPC_TYPE_ERROR, format!("JSON integer out of range: {n}"))
            }),
            other => Err(type_error(other, "number")),
        }
    }

    /// An optional bool, `default` when omitted.
    pub(crate) fn bool_or(&self, index: usize, default: bool) -> Result<bool, RpcError> {
        match self.get(index) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(type_error(other, "bool")),
        }
    }

    /// An optional number of any kind (e.g. `maxfeerate`), type-checked only.
    pub(crate) fn check_number(&self, index: usize) -> Result<(), RpcError> {
        match self.get(index) {
            None | Some(Value::Number(_)) | Some(Value::String(_)) => Ok(()),
            Some(other) => Err(type_error(other, "number")),
        }
    }

    /// A verbosity that may be given as a bool (`false` = 0, `true` = 1) or a number, as
    /// `getblock` and `getrawtransaction` take it.
    pub(crate) fn verbosity(&self, index: usize, default: i64) -> Result<i64, RpcError> {
        match self.get(index) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(i64::from(*b)),
            Some(_) => self.int(index),
        }
    }
}

/// bitcoind's answer to a call with missing or extra arguments: the method's usage.
fn usage(method: &str, names: &[&str], required: usize) -> RpcError {
    let args: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| if i < required { format!("\"{n}\"") } else { format!("( {n} )") })
        .collect();
    RpcError::new(RPC_MISC_ERROR, format!("{method} {}", args.join(" ")).trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn positional_and_named_parameters_land_in_the_same_slots() {
        const NAMES: &[&str] = &["blockhash", "verbose"];
        let positional = json!(["00", false]);
        let p = Params::new("m", Some(&positional), NAMES, 1).unwrap();
        assert_eq!(p.str(0).unwrap(), "00");
        assert!(!p.bool_or(1, true).unwrap());
        let named = json!({"verbose": false, "blockhash": "00"});
        let p = Params::new("m", Some(&named), NAMES, 1).unwrap();
        assert_eq!(p.str(0).unwrap(), "00");
        assert!(!p.bool_or(1, true).unwrap());
        let nulls = json!(["00", null]);
        assert!(Params::new("m", Some(&nulls), NAMES, 1).unwrap().bool_or(1, true).unwrap());
    }

    #[test]
    fn bad_parameters_get_bitcoind_codes() {
        const NAMES: &[&str] = &["blockhash", "verbose"];
        let missing = Params::new("getblockheader", None, NAMES, 1).err().unwrap();
        assert_eq!(missing.code, RPC_MISC_ERROR);
        assert_eq!(missing.message, "getblockheader \"blockhash\" ( verbose )");
        let extra = json!(["a", true, 3]);
        assert_eq!(Params::new("m", Some(&extra), NAMES, 1).err().unwrap().code, RPC_MISC_ERROR);
        let unknown = json!({"colour": 1});
        assert_eq!(
            Params::new("m", Some(&unknown), NAMES, 0).err().unwrap().code,
            RPC_INVALID_PARAMETER
        );
        let short = json!(["abc"]);
        let p = Params::new("m", Some(&short), NAMES, 1).unwrap();
        let error = p.hash::<bitcoin::BlockHash>(0).unwrap_err();
        assert_eq!(error.code, RPC_INVALID_PARAMETER);
        assert_eq!(error.message, "blockhash must be of length 64 (not 3, for 'abc')");
        let wrong = json!([5, "yes"]);
        let p = Params::new("m", Some(&wrong), NAMES, 1).unwrap();
        let error = p.hash::<bitcoin::BlockHash>(0).unwrap_err();
        assert_eq!(error.code, RPC_TYPE_ERROR);
        assert_eq!(error.message, "JSON value of type number is not of expected type string");
        assert_eq!(p.bool_or(1, true).unwrap_err().code, RPC_TYPE_ERROR);
    }
}
