//! Per-tag state: what the pipeline remembers about each tag between
//! samples, in a table indexed by tag id.

use flowline_catalog::Snapshot;
use flowline_core::{DataQualityFlags, Quality, TagId, Timestamp, Value};
use serde::{Deserialize, Serialize};

use crate::cep::Engine;
use crate::compress::{NoiseFilter, Point};
use crate::config::StreamConfig;
use crate::output::ProcessedSample;
use crate::plan::TagPlan;
use crate::validate::History;

/// How many of a tag's latest accepted times are remembered to recognise
/// duplicates that arrive out of order.
pub(crate) const REMEMBERED_TIMES: usize = 8;

/// Everything the pipeline remembers about one tag; checkpointed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TagState {
    /// The newest event time accepted, for duplicates, ordering and gaps.
    pub(crate) last_time: Option<Timestamp>,
    /// The times of the latest accepted samples, in or out of order.
    pub(crate) recent_times: RecentTimes,
    /// The quality of the newest sample read in order.
    pub(crate) last_quality: Quality,
    /// Its flags.
    pub(crate) last_flags: DataQualityFlags,
    /// Validation's memory.
    pub(crate) history: History,
    /// Noise reduction's memory, with the samples it holds back.
    pub(crate) noise: NoiseFilter<ProcessedSample>,
}

/// The event times of a tag's latest accepted samples, oldest overwritten
/// first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecentTimes {
    /// Microseconds since the epoch; `i64::MIN` in unused places.
    times: [i64; REMEMBERED_TIMES],
    next: u8,
}

impl Default for RecentTimes {
    fn default() -> Self {
        RecentTimes {
            times: [i64::MIN; REMEMBERED_TIMES],
            next: 0,
        }
    }
}

impl RecentTimes {
    /// Whether `time` is among the remembered times.
    pub(crate) fn contains(&self, time: Timestamp) -> bool {
        self.times.contains(&time.as_micros())
    }

    /// Remembers `time`, forgetting the oldest.
    pub(crate) fn push(&mut self, time: Timestamp) {
        let next = usize::from(self.next);
        self.times[next] = time.as_micros();
        // REMEMBERED_TIMES fits in a u8.
        self.next = ((next + 1) % REMEMBERED_TIMES) as u8;
    }
}

impl Point for ProcessedSample {
    fn micros(&self) -> i64 {
        self.sample.time.as_micros()
    }

    fn value(&self) -> &Value {
        &self.sample.value
    }
}

/// One tag's state and its plan.
#[derive(Clone, Debug)]
pub(crate) struct TagSlot {
    /// The tag.
    pub(crate) id: TagId,
    /// Its state.
    pub(crate) state: TagState,
    /// Its plan; `None` until its first sample after a start or restore.
    pub(crate) plan: Option<TagPlan>,
}

impl TagSlot {
    /// The plan and the state, apart, for a tag whose plan is current.
    pub(crate) fn parts(&mut self) -> (&TagPlan, &mut TagState) {
        let plan = self
            .plan
            .as_ref()
            .expect("bug: a tag in the snapshot has a current plan");
        (plan, &mut self.state)
    }
}

/// Where no slot is.
const NO_SLOT: u32 = u32::MAX;

/// Every tag's state, found by id in one bounds check.
#[derive(Clone, Debug, Default)]
pub(crate) struct TagTable {
    /// Index into `slots` by tag id; [`NO_SLOT`] where the tag has none.
    index: Vec<u32>,
    slots: Vec<TagSlot>,
}

impl TagTable {
    /// A table holding `states`.
    pub(crate) fn from_states(states: Vec<(TagId, TagState)>) -> TagTable {
        let mut table = TagTable::default();
        for (id, state) in states {
            let position = table.position(id);
            table.slots[position].state = state;
        }
        table
    }

    /// The position of `id`'s slot, made empty if it has none.
    #[inline]
    pub(crate) fn position(&mut self, id: TagId) -> usize {
        let key = id.0 as usize;
        if let Some(&slot) = self.index.get(key)
            && slot != NO_SLOT
        {
            return slot as usize;
        }
        self.insert(id)
    }

    /// Slower path: the first sample of a tag.
    fn insert(&mut self, id: TagId) -> usize {
        let key = id.0 as usize;
        if self.index.len() <= key {
            self.index.resize(key + 1, NO_SLOT);
        }
        let position = self.slots.len();
        self.index[key] = u32::try_from(position).expect("bug: fewer than 2^32 tags");
        self.slots.push(TagSlot {
            id,
            state: TagState::default(),
            plan: None,
        });
        position
    }

    /// The slot at `position`, with its plan made current for `snapshot`.
    pub(crate) fn current(
        &mut self,
        position: usize,
        snapshot: &Snapshot,
        config: &StreamConfig,
        engine: &Engine,
    ) -> &mut TagSlot {
        let slot = &mut self.slots[position];
        refresh_plan(slot, snapshot, config, engine);
        slot
    }

    /// Calls `visit` with every slot, its plan made current, in tag-id
    /// order, so that whatever walks the table does so in the same order
    /// before and after a restore.
    pub(crate) fn visit_current(
        &mut self,
        snapshot: &Snapshot,
        config: &StreamConfig,
        engine: &Engine,
        mut visit: impl FnMut(&mut TagSlot),
    ) {
        for &position in &self.index {
            if position != NO_SLOT {
                let slot = &mut self.slots[position as usize];
                refresh_plan(slot, snapshot, config, engine);
                visit(slot);
            }
        }
    }

    /// Every tag's position, in tag-id order.
    pub(crate) fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.index
            .iter()
            .filter(|slot| **slot != NO_SLOT)
            .map(|slot| *slot as usize)
    }

    /// The slot at `position`.
    pub(crate) fn slot(&self, position: usize) -> &TagSlot {
        &self.slots[position]
    }

    /// The slot at `position`, to change.
    pub(crate) fn slot_mut(&mut self, position: usize) -> &mut TagSlot {
        &mut self.slots[position]
    }
}

/// Makes `slot`'s plan current for `snapshot`, when the tag is in it. A
/// change of type or unit conversion forgets the validation history, which
/// holds values of the old kind.
fn refresh_plan(slot: &mut TagSlot, snapshot: &Snapshot, config: &StreamConfig, engine: &Engine) {
    let stale = slot
        .plan
        .as_ref()
        .is_none_or(|plan| plan.version != snapshot.version());
    if !stale {
        return;
    }
    let Some(entry) = snapshot.tag(slot.id) else {
        return;
    };
    let plan = TagPlan::new(entry, snapshot, config, engine);
    let changed = slot
        .plan
        .as_ref()
        .is_some_and(|old| old.data_type != plan.data_type || old.conversion != plan.conversion);
    if changed {
        slot.state.history = History::default();
    }
    slot.plan = Some(plan);
}
