//! TODO placeholder replaced in this session
