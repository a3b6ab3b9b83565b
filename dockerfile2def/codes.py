"""Stable diagnostic codes of the converter (D2S0xx) with their one-line titles.

Every code here has a section in docs/diagnostics.md (a test checks it); codes are never reused.
"""

CODES = {
    "D2S001": "instruction has no Apptainer equivalent; recorded, not translated",
    "D2S002": "base image configuration unavailable; worked out inside the image instead",
    "D2S003": "USER: Apptainer runs containers as the calling user",
    "D2S004": "EXPOSE has no effect in Apptainer",
    "D2S005": "VOLUME has no effect in Apptainer",
    "D2S006": "HEALTHCHECK has no effect in Apptainer",
    "D2S007": "STOPSIGNAL has no effect in Apptainer",
    "D2S008": "ONBUILD triggers are recorded, never run",
    "D2S009": "FROM --platform: Apptainer builds for one architecture per build",
    "D2S010": "RUN --mount translated with different semantics",
    "D2S011": "RUN --network/--security cannot be enforced in %post",
    "D2S012": "COPY/ADD --link has no Apptainer equivalent (the result is the same)",
    "D2S013": "ADD from a URL is fetched once, not at every build",
    "D2S014": "ADD from a git repository is checked out once, not at every build",
    "D2S015": "files under /tmp or /var/tmp are hidden at run time by the host's",
    "D2S016": "parser directive has no effect in the conversion",
    "D2S017": "a COPY/ADD source matched nothing",
    "D2S018": "RUN after USER runs through su",
    "D2S019": "value cannot be represented in a definition file",
    "D2S020": "ENTRYPOINT or CMD of the base image is unknown",
    "D2S021": "--chown names a user or group resolved inside the image",
    "D2S022": "SHELL is not a POSIX shell; %post still runs /bin/sh around it",
    "D2S023": "a COPY/ADD source is not in the build context",
    "D2S024": "the base image needs a build argument that has no value",
    "D2S025": "a substitution on a variable only the unread base image sets",
}
