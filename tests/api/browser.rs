//! The portal as people see it, in headless Chromium: signing in through the real IdP, the
//! pages' accessibility and layout at 1440 and 360 px, forms, and the seed's walkthrough.

mod checks;
mod pages;
mod progress;
mod request_form;
mod sign_in;
mod walkthrough;
