//! qpctl image build: the sealed node image (UKI, systemd-boot, erofs root under dm-verity, GPT), reproducibly
