//! PID 1's duties in the sealed image: pseudo file systems, kernel modules, dm-verity, networking, power
