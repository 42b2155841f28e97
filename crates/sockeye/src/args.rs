//! Event arguments: how `emit("event", data)` becomes `["event", data]`.

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// Several arguments for one event, as a tuple: `("a", 1, &data)`.
///
/// Implemented for tuples of up to six [`Serialize`] values, each becoming
/// one argument of the event (`socket.emit("ev", a, b)` in JavaScript).
pub trait IntoArgs {
    /// Writes each argument as one element of a sequence.
    fn serialize_args<S: SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error>;
    /// How many arguments.
    fn len(&self) -> usize;
    /// Whether there are no arguments.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IntoArgs for () {
    fn serialize_args<S: SerializeSeq>(&self, _seq: &mut S) -> Result<(), S::Error> {
        Ok(())
    }
    fn len(&self) -> usize {
        0
    }
}

/// A runtime list: each element is one argument.
impl<T: Serialize> IntoArgs for Vec<T> {
    fn serialize_args<S: SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        self.as_slice().serialize_args(seq)
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
}

/// A runtime list: each element is one argument.
impl<T: Serialize> IntoArgs for [T] {
    fn serialize_args<S: SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        for item in self {
            seq.serialize_element(item)?;
        }
        Ok(())
    }
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
}

macro_rules! tuple_args {
    ($n:expr; $($name:ident $idx:tt),+) => {
        impl<$($name: Serialize),+> IntoArgs for ($($name,)+) {
            fn serialize_args<S: SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
                $(seq.serialize_element(&self.$idx)?;)+
                Ok(())
            }
            fn len(&self) -> usize {
                $n
            }
        }
    };
}

tuple_args!(1; A 0);
tuple_args!(2; A 0, B 1);
tuple_args!(3; A 0, B 1, C 2);
tuple_args!(4; A 0, B 1, C 2, D 3);
tuple_args!(5; A 0, B 1, C 2, D 3, E 4);
tuple_args!(6; A 0, B 1, C 2, D 3, E 4, F 5);

/// Arguments followed by a recovery offset (connection state recovery
/// appends it as the last argument, where the client reads it).
pub(crate) struct WithOffset<'a, A: ?Sized> {
    pub args: &'a A,
    pub offset: &'a str,
}

impl<A: IntoArgs + ?Sized> IntoArgs for WithOffset<'_, A> {
    fn serialize_args<S: SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        self.args.serialize_args(seq)?;
        seq.serialize_element(self.offset)
    }
    fn len(&self) -> usize {
        self.args.len() + 1
    }
}

/// `[event, ...args]`, serialized in one pass.
pub(crate) struct EventArgs<'a, A: ?Sized> {
    pub event: &'a str,
    pub args: &'a A,
}

impl<A: IntoArgs + ?Sized> Serialize for EventArgs<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(1 + self.args.len()))?;
        seq.serialize_element(self.event)?;
        self.args.serialize_args(&mut seq)?;
        seq.end()
    }
}

/// The arguments of an acknowledgement: `[...args]`.
pub(crate) struct AckArgs<'a, A: ?Sized>(pub &'a A);

impl<A: IntoArgs + ?Sized> Serialize for AckArgs<'_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        self.0.serialize_args(&mut seq)?;
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_arguments() {
        let s = serde_json::to_string(&EventArgs {
            event: "ev",
            args: &(1, "two", [3]),
        })
        .unwrap();
        assert_eq!(s, r#"["ev",1,"two",[3]]"#);
        let s = serde_json::to_string(&EventArgs {
            event: "ev",
            args: &(),
        })
        .unwrap();
        assert_eq!(s, r#"["ev"]"#);
        let s = serde_json::to_string(&AckArgs(&("ok",))).unwrap();
        assert_eq!(s, r#"["ok"]"#);
    }
}
