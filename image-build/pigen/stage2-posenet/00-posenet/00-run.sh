#!/bin/bash -e
# pi-gen sub-stage, run on the build host with ROOTFS_DIR set and pi-gen's on_chroot available:
# installs the appliance into the image with the same script a user runs on an existing Pi.
# image-build/build-image.sh puts what it needs into files/ (project source, optional models and
# settings); see the README's "SD-card image" section.
SRC_TAR=files/posenet-appliance-src.tar.gz
if [ ! -f "${SRC_TAR}" ]; then
	echo "stage2-posenet: ${SRC_TAR} is missing: build the image with image-build/build-image.sh" >&2
	exit 1
fi
WORK="${ROOTFS_DIR}/tmp/posenet-build"
rm -rf "${WORK}"
install -d "${WORK}/src"
tar -xzf "${SRC_TAR}" -C "${WORK}/src"
if [ -f files/BUILD-INFO ]; then
	install -D -m 644 files/BUILD-INFO "${WORK}/src/build/BUILD-INFO"
fi
ARGS="--image"
if [ -d files/models ]; then
	cp -r files/models "${WORK}/models"
	ARGS="${ARGS} --models-from /tmp/posenet-build/models"
fi
for deb in files/libedgetpu1-*.deb; do
	[ -f "${deb}" ] || continue
	install -m 644 "${deb}" "${WORK}/"
	ARGS="${ARGS} --edgetpu-deb /tmp/posenet-build/$(basename "${deb}")"
done
if [ -f files/update-key.pub ]; then
	install -m 644 files/update-key.pub "${WORK}/update-key.pub"
	ARGS="${ARGS} --update-key /tmp/posenet-build/update-key.pub"
fi
if [ -f files/posenet.json ]; then
	install -m 600 files/posenet.json "${WORK}/posenet.json"
	ARGS="${ARGS} --config /tmp/posenet-build/posenet.json"
fi

on_chroot << CHROOT
bash /tmp/posenet-build/src/image-build/install-on-pi.sh ${ARGS}
CHROOT

# The boot partition (FAT, readable from any laptop): an example of the settings file that the
# first-boot unit applies. Bookworm and later mount it at /boot/firmware.
BOOT="${ROOTFS_DIR}/boot/firmware"
[ -d "${BOOT}" ] || BOOT="${ROOTFS_DIR}/boot"
install -m 644 "${WORK}/src/image-build/posenet.json.example" "${BOOT}/posenet.json.example"
rm -rf "${WORK}"
