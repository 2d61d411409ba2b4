"""Ansible filter: the newest ACM certificate whose names cover every given name."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: certificate_covering
short_description: The newest ACM certificate covering every given name
description:
  - Of ACM's certificates (C(community.aws.acm_certificate_info)'s C(certificates)), the one whose
    names - its C(domain_name) and C(subject_alternative_names) - cover each of the given names,
    ignoring case. A certificate's name covers a name when it is the name itself, or a wildcard
    for its parent (C(*.example.com) covers C(search.example.com), not C(a.search.example.com);
    a wildcard stands for one label only).
  - Of the certificates covering them all, one naming the first name itself (the service's own)
    is chosen before one covering it by a wildcard; of those, the one valid longest (the latest
    C(not_after)).
  - None covering them, an empty dict, so that the caller can say what is missing. A certificate
    without C(certificate_arn), C(domain_name) or C(not_after) is an error.
options:
  _input:
    description: ACM's certificates, as C(community.aws.acm_certificate_info) returns them.
    type: list
    elements: dict
    required: true
  names:
    description: The names the certificate must cover, the one preferred by its own name first.
    type: list
    elements: string
    required: true
"""

EXAMPLES = r"""
- name: Choose the certificate of the service's names
  ansible.builtin.set_fact:
    certificate: "{{ found.certificates | certificate_covering(['search.example.com', 'search.earlier.example.com']) }}"
    # {'arn': 'arn:aws:acm:...', 'names': ['search.example.com', '*.earlier.example.com']}, or {}
"""

RETURN = r"""
_value:
  description:
    - The certificate chosen, as C(arn) and C(names) (its names, lower case); an empty dict when
      none covers every name.
  type: dict
"""

_REQUIRED = ("certificate_arn", "domain_name", "not_after")


def _covers(certificate_names: set[str], name: str) -> bool:
    """Whether a certificate's names cover NAME: by itself, or by a wildcard for its parent."""
    name = name.lower()
    _, dot, parent = name.partition(".")
    return name in certificate_names or (bool(dot) and f"*.{parent}" in certificate_names)


def certificate_covering(certificates, names):
    """{arn, names} of the certificate covering every one of NAMES, preferring one naming the
    first itself, then the latest not_after; {} when none covers them all."""
    if not isinstance(certificates, list) or not all(isinstance(c, dict) for c in certificates):
        raise AnsibleFilterError(f"certificate_covering: expects a list of ACM certificates, got {certificates!r}")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise AnsibleFilterError(f"certificate_covering: expects a non-empty list of names to cover, got {names!r}")
    for certificate in certificates:
        missing = [key for key in _REQUIRED if key not in certificate]
        if missing:
            raise AnsibleFilterError(
                f"certificate_covering: the certificate {certificate.get('certificate_arn', certificate)!r}"
                f" has no {', '.join(missing)}"
            )
    covering = []
    for certificate in sorted(certificates, key=lambda c: c["not_after"], reverse=True):
        certificate_names = [
            name.lower() for name in [certificate["domain_name"], *(certificate.get("subject_alternative_names") or [])]
        ]
        if all(_covers(set(certificate_names), name) for name in names):
            covering.append({"arn": certificate["certificate_arn"], "names": certificate_names})
    # A stable sort: the latest not_after first still, within each.
    covering.sort(key=lambda certificate: names[0].lower() not in certificate["names"])
    return covering[0] if covering else {}


class FilterModule:
    def filters(self):
        return {"certificate_covering": certificate_covering}
