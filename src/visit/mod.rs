//! The reference service: agreeing on a visit (قرار بازدید) inside a post's chat. Pure rules
//! and rendering here; the flow that stores and sends is `flows::visit`.

pub mod ics;
pub mod jalali;
pub mod messages;
pub mod model;
