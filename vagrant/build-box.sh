#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) Vagrant box for the libvirt provider from Debian packages alone,
# for machines that reach no box registry:
#
#   sudo vagrant/build-box.sh                    # -> vagrant/ssinet-bookworm.box
#   vagrant box add --name ssinet/bookworm vagrant/ssinet-bookworm.box
#   SSINET_BOX=ssinet/bookworm SSINET_LIBVIRT_DRIVER=qemu vagrant up
#
# How: debootstrap into a directory (inside a private mount namespace, so nothing stays mounted),
# configure it (vagrant user with Vagrant's insecure key and password-less sudo, openssh, eth*
# names, DHCP on eth0, ifupdown for Vagrant's static addresses), then `mkfs.ext4 -d` turns the
# directory into a whole-disk root filesystem: no loop or nbd device is needed. The box boots
# its kernel directly (libvirt <kernel>/<initrd>, set by the box's own Vagrantfile), root=/dev/vda.
#
# Time: debootstrap dominates (network and dpkg); about 5-10 min on 2 cores, the image steps
# under a minute. Needs root, debootstrap, e2fsprogs, qemu-utils.
#
# Options (environment):
#   SSINET_BOX_OUT=vagrant/ssinet-bookworm.box   the box file
#   SSINET_BOX_MIRROR=http://deb.debian.org/debian
#   SSINET_BOX_SIZE=4G                           the virtual disk size
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${SSINET_BOX_OUT:-$here/ssinet-bookworm.box}
mirror=${SSINET_BOX_MIRROR:-http://deb.debian.org/debian}
size=${SSINET_BOX_SIZE:-4G}
suite=bookworm
# Everything the cluster's provisioning and test.sh use is in the image: the VMs need no network
# access beyond the cluster's own.
packages=linux-image-amd64,initramfs-tools,systemd-sysv,udev,dbus,netbase,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,kmod,ipvsadm,python3,curl,rsync,ca-certificates,procps,iputils-ping

if [ "$(id -u)" -ne 0 ]; then
  echo "build-box.sh: needs root (debootstrap, chroot); run: sudo $0" >&2
  exit 2
fi
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  echo "build-box.sh: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
key=$(find /usr/share/rubygems-integration /usr/share/vagrant /opt/vagrant -path '*keys/vagrant.pub' 2>/dev/null | head -1 || true)
[ -n "$key" ] || { echo "build-box.sh: Vagrant's insecure public key (keys/vagrant.pub) not found; install vagrant" >&2; exit 1; }

# The debootstrapped tree is kept until the box is built, so a failed later step does not cost
# the debootstrap again (SSINET_BOX_WORK, removed on success).
work=${SSINET_BOX_WORK:-/var/tmp/ssinet-box-build}
mkdir -p "$work"
root=$work/root
started=$(date +%s)
phase() { echo "[$(($(date +%s) - started)) s] $*"; }

phase "debootstrap $suite from $mirror"
# A private mount namespace: the /proc, /sys and /dev mounts debootstrap and the chroot make end
# with it, whatever happens.
unshare --mount --propagation private bash -euo pipefail -s "$root" "$mirror" "$suite" "$packages" "$key" <<'CHROOT'
root=$1 mirror=$2 suite=$3 packages=$4 key=$5
trap 'echo "build-box.sh: configuring the image failed at line $LINENO: $BASH_COMMAND" >&2' ERR
if [ ! -f "$root.debootstrap-done" ]; then
  rm -rf "$root"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
    { tail -30 "$root.debootstrap.log"; exit 1; }
  touch "$root.debootstrap-done"
fi
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
cat >"$root/etc/fstab" <<'EOF'
/dev/vda / ext4 defaults,errors=remount-ro 0 1
EOF
echo box >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 box\n' >"$root/etc/hosts"
cat >"$root/etc/network/interfaces" <<'EOF'
# Vagrant's management network; Vagrant adds the private networks below when it configures them.
auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOF
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://security.debian.org/debian-security $suite-security main
EOF
id_in_root() { chroot "$root" id -u "$1" >/dev/null 2>&1; }
id_in_root vagrant || chroot "$root" useradd --create-home --shell /bin/bash --groups sudo vagrant
echo vagrant:vagrant | chroot "$root" chpasswd
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$key" "$root/home/vagrant/.ssh/authorized_keys"
printf 'UseDNS no\nGSSAPIAuthentication no\n' >"$root/etc/ssh/sshd_config.d/vagrant.conf"
# Host keys are made on first boot, so every VM of the box gets its own.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Create this machine's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable ssh-hostkeys.service ssh.service
# Each VM gets its own machine-id (and so its own DHCP client id) on first boot.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# The serial console is where a TCG boot can be watched (virsh console).
chroot "$root" systemctl enable serial-getty@ttyS0.service
# Modules for a virtio guest in the initramfs; eth* names (net.ifnames=0 on the command line).
# MODULES=most (the default) covers virtio; the list below makes sure of it. (MODULES=dep would
# need the guest's /sys.)
rm -f "$root/etc/initramfs-tools/conf.d/ssinet-box"
grep -q '^virtio_blk$' "$root/etc/initramfs-tools/modules" ||
  printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >>"$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all >"$root.initramfs.log" 2>&1 || { tail -20 "$root.initramfs.log"; exit 1; }
chroot "$root" apt-get clean
umount -R "$root/dev" "$root/proc" 2>/dev/null || umount -l "$root/dev" "$root/proc"
CHROOT

phase "kernel and initramfs"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)
mkdir -p "$work/box"
cp "$kernel" "$work/box/vmlinuz"
cp "$initrd" "$work/box/initrd.img"
echo "  $(basename "$kernel"), $(basename "$initrd")"

phase "root filesystem image ($size, ext4 from the directory)"
rm -f "$work/root.raw"
mkfs.ext4 -q -F -L root -d "$root" "$work/root.raw" "$size"
qemu-img convert -O qcow2 "$work/root.raw" "$work/box/box.img"
rm -f "$work/root.raw"
virtual_size=$(qemu-img info --output=json "$work/box/box.img" | python3 -c 'import json,sys; print(-(-json.load(sys.stdin)["virtual-size"] // 2**30))')
cat >"$work/box/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $virtual_size}
EOF
cat >"$work/box/Vagrantfile" <<'EOF'
# Box defaults: boot the box's own kernel directly (the image is one ext4 filesystem, no
# bootloader); eth0, eth1, ... names.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(File.dirname(__FILE__), "vmlinuz")
    libvirt.initrd = File.join(File.dirname(__FILE__), "initrd.img")
    libvirt.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 biosdevname=0"
    libvirt.disk_bus = "virtio"
  end
end
EOF

phase "box archive"
tar -C "$work/box" -czf "$out.tmp" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv -f "$out.tmp" "$out"
rm -rf "$work"
phase "done: $out ($(du -h "$out" | cut -f1)); add it with: vagrant box add --name ssinet/bookworm $out"
