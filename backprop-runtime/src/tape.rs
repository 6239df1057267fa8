//! Tapes: the values a loop's forward pass keeps for its reverse pass, popped in reverse
//! order.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

/// The values a loop's forward pass keeps and its reverse pass needs again: pushed by the
/// forward pass, popped by the reverse pass in reverse order. Generated code keeps only what
/// its reverse pass reads and cannot compute again for less (see the README, "How loops are
/// reversed").
///
/// Arrays and other values go on a `Tape`; floats, counters and shapes on a [`ScalarTape`],
/// whose storage is reused from call to call.
#[derive(Debug, Default)]
pub struct Tape<T>(Vec<T>);

impl<T> Tape<T> {
    pub fn new() -> Self {
        Tape(Vec::new())
    }

    /// A tape with room for one value per iteration of a loop over `trips` (its range): the
    /// forward loop that pushes one per iteration never grows it.
    pub fn for_trips(trips: impl Iterator) -> Self {
        Tape(Vec::with_capacity(trips.size_hint().0))
    }

    pub fn push(&mut self, value: T) {
        self.0.push(value);
    }

    /// The last value pushed.
    ///
    /// The reverse pass pops exactly what the forward pass pushed, so this never runs out.
    pub fn pop(&mut self) -> T {
        match self.0.pop() {
            Some(value) => value,
            None => {
                panic!("a #[backprop] loop's tape ran out: a bug in the macro, please report it")
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Copy> Tape<T> {
    /// Keeps every element of `values` (a buffer's contents before a loop sets them all).
    pub fn push_slice(&mut self, values: &[T]) {
        self.0.extend_from_slice(values);
    }

    /// Puts back into `into` the last `into.len()` values pushed, in the order
    /// [`push_slice`](Self::push_slice) kept them.
    pub fn pop_slice(&mut self, into: &mut [T]) {
        let Some(at) = self.0.len().checked_sub(into.len()) else {
            panic!("a #[backprop] loop's tape ran out: a bug in the macro, please report it")
        };
        into.copy_from_slice(&self.0[at..]);
        self.0.truncate(at);
    }
}

/// A [`Tape`] of plain values (floats, counters, shapes) whose storage goes back to a
/// per-thread pool when it is dropped, and is taken from it by the next call's tape: a
/// gradient called in a training loop allocates its tapes once, not on every call, and does
/// not hand its pages back to the kernel between calls.
#[derive(Debug)]
pub struct ScalarTape<T: Copy + 'static>(Tape<T>);

thread_local! {
    /// Free tape storage of the element types generated code tapes (floats and counters), the
    /// most recently freed last: taken and given back without hashing or boxing, since a
    /// gradient that calls a function with a tape in a loop (`logsumexp_backward(&beta, ..)` for
    /// each point) takes and gives back its storage on every call.
    static FREE_F64: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
    static FREE_F32: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    static FREE_USIZE: RefCell<Vec<Vec<usize>>> = const { RefCell::new(Vec::new()) };
    /// Free tape storage of any other element type, by type.
    static FREE: RefCell<HashMap<TypeId, Vec<Box<dyn Any>>>> = RefCell::new(HashMap::new());
}

/// How many free buffers of one element type the pool keeps.
const POOLED: usize = 64;

/// Takes storage of element type `E` from `pool` into `out` when `out` is a `Vec<E>`.
// The `Vec` itself is what is downcast and replaced.
#[allow(clippy::ptr_arg)]
fn take_from<E: 'static, T: 'static>(
    pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<E>>>>,
    out: &mut Vec<T>,
) -> bool {
    let Some(out) = (out as &mut dyn Any).downcast_mut::<Vec<E>>() else {
        return false;
    };
    if let Ok(Some(storage)) = pool.try_with(|free| free.borrow_mut().pop()) {
        *out = storage;
    }
    true
}

/// Gives `storage` back to `pool` when it is a `Vec<E>`.
#[allow(clippy::ptr_arg)]
fn give_to<E: 'static, T: 'static>(
    pool: &'static std::thread::LocalKey<RefCell<Vec<Vec<E>>>>,
    storage: &mut Vec<T>,
) -> bool {
    let Some(storage) = (storage as &mut dyn Any).downcast_mut::<Vec<E>>() else {
        return false;
    };
    let storage = std::mem::take(storage);
    // During thread teardown the pool may be gone: the storage is then simply freed.
    let _ = pool.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < POOLED {
            free.push(storage);
        }
    });
    true
}

impl<T: Copy + 'static> ScalarTape<T> {
    pub fn new() -> Self {
        let mut storage: Vec<T> = Vec::new();
        if !(take_from(&FREE_F64, &mut storage)
            || take_from(&FREE_F32, &mut storage)
            || take_from(&FREE_USIZE, &mut storage))
        {
            let reused = FREE.with(|free| {
                free.borrow_mut()
                    .get_mut(&TypeId::of::<T>())
                    .and_then(Vec::pop)
                    .and_then(|storage| storage.downcast::<Vec<T>>().ok())
            });
            storage = reused.map(|storage| *storage).unwrap_or_default();
        }
        ScalarTape(Tape(storage))
    }
}

/// `push`, `pop` and `len` are [`Tape`]'s.
impl<T: Copy + 'static> std::ops::Deref for ScalarTape<T> {
    type Target = Tape<T>;
    fn deref(&self) -> &Tape<T> {
        &self.0
    }
}

impl<T: Copy + 'static> std::ops::DerefMut for ScalarTape<T> {
    fn deref_mut(&mut self) -> &mut Tape<T> {
        &mut self.0
    }
}

impl<T: Copy + 'static> Default for ScalarTape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + 'static> Drop for ScalarTape<T> {
    fn drop(&mut self) {
        let mut storage = std::mem::take(&mut self.0.0);
        if storage.capacity() == 0 {
            return;
        }
        storage.clear();
        if give_to(&FREE_F64, &mut storage)
            || give_to(&FREE_F32, &mut storage)
            || give_to(&FREE_USIZE, &mut storage)
        {
            return;
        }
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            let kept = free.entry(TypeId::of::<T>()).or_default();
            if kept.len() < POOLED {
                kept.push(Box::new(storage));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_tapes_reuse_their_storage() {
        let mut tape = ScalarTape::new();
        for k in 0..1000 {
            tape.push(k as f64);
        }
        for k in (0..1000).rev() {
            assert_eq!(tape.pop(), k as f64);
        }
        let capacity = tape.0.0.capacity();
        drop(tape);
        let again: ScalarTape<f64> = ScalarTape::new();
        assert!(again.is_empty());
        assert_eq!(again.0.0.capacity(), capacity);
        // Another element type does not take it.
        let other: ScalarTape<usize> = ScalarTape::new();
        assert_eq!(other.0.0.capacity(), 0);
        drop(again);
        // Nor a type outside the pools of floats and counters, which has a pool of its own.
        let mut shapes: ScalarTape<[usize; 2]> = ScalarTape::new();
        shapes.push([2, 3]);
        let capacity = shapes.0.0.capacity();
        drop(shapes);
        let again: ScalarTape<[usize; 2]> = ScalarTape::new();
        assert_eq!(again.0.0.capacity(), capacity);
        let floats: ScalarTape<f64> = ScalarTape::new();
        assert!(floats.is_empty());
    }
}
