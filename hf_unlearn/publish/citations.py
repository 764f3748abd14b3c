"""BibTeX for the card: the benchmark, the framework whose conventions the runs follow, and each method's paper."""

from __future__ import annotations

TOFU = """@inproceedings{maini2024tofu,
  title     = {{TOFU}: A Task of Fictitious Unlearning for {LLMs}},
  author    = {Maini, Pratyush and Feng, Zhili and Schwarzschild, Avi and Lipton, Zachary C. and Kolter, J. Zico},
  booktitle = {First Conference on Language Modeling},
  year      = {2024},
  url       = {https://arxiv.org/abs/2401.06121}
}"""

OPEN_UNLEARNING = """@article{dorna2025openunlearning,
  title   = {{OpenUnlearning}: Accelerating {LLM} Unlearning via Unified Benchmarking of Methods and Metrics},
  author  = {Dorna, Vineeth and Mekala, Anmol and Zhao, Wenlong and McCallum, Andrew and Lipton, Zachary C. and
             Kolter, J. Zico and Maini, Pratyush},
  journal = {arXiv preprint arXiv:2506.12618},
  year    = {2025}
}"""

METHOD_CITATIONS: dict[str, str] = {
    "GradAscent": """@inproceedings{jang2023knowledge,
  title     = {Knowledge Unlearning for Mitigating Privacy Risks in Language Models},
  author    = {Jang, Joel and Yoon, Dongkeun and Yang, Sohee and Cha, Sungmin and Lee, Moontae and Logeswaran,
               Lajanugen and Seo, Minjoon},
  booktitle = {Proceedings of the 61st Annual Meeting of the Association for Computational Linguistics},
  year      = {2023},
  url       = {https://arxiv.org/abs/2210.01504}
}""",
    "GradDiff": """@inproceedings{liu2022continual,
  title     = {Continual Learning and Private Unlearning},
  author    = {Liu, Bo and Liu, Qiang and Stone, Peter},
  booktitle = {Conference on Lifelong Learning Agents},
  year      = {2022},
  url       = {https://arxiv.org/abs/2203.12817}
}""",
    "NPO": """@inproceedings{zhang2024negative,
  title     = {Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning},
  author    = {Zhang, Ruiqi and Lin, Licong and Bai, Yu and Mei, Song},
  booktitle = {First Conference on Language Modeling},
  year      = {2024},
  url       = {https://arxiv.org/abs/2404.05868}
}""",
    "SimNPO": """@article{fan2024simplicity,
  title   = {Simplicity Prevails: Rethinking Negative Preference Optimization for {LLM} Unlearning},
  author  = {Fan, Chongyu and Liu, Jiancheng and Lin, Licong and Jia, Jinghan and Zhang, Ruiqi and Mei, Song and
             Liu, Sijia},
  journal = {arXiv preprint arXiv:2410.07163},
  year    = {2024}
}""",
    "IdkDPO": """@inproceedings{rafailov2023direct,
  title     = {Direct Preference Optimization: Your Language Model is Secretly a Reward Model},
  author    = {Rafailov, Rafael and Sharma, Archit and Mitchell, Eric and Ermon, Stefano and Manning, Christopher D.
               and Finn, Chelsea},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2023},
  url       = {https://arxiv.org/abs/2305.18290}
}""",
    "UNDIAL": """@article{dong2024undial,
  title   = {{UNDIAL}: Self-Distillation with Adjusted Logits for Robust Unlearning in Large Language Models},
  author  = {Dong, Yijiang River and Lin, Hongzhou and Belkin, Mikhail and Huerta, Ramon and Vuli{\\'c}, Ivan},
  journal = {arXiv preprint arXiv:2402.10052},
  year    = {2024}
}""",
    "RMU": """@inproceedings{li2024wmdp,
  title     = {The {WMDP} Benchmark: Measuring and Reducing Malicious Use with Unlearning},
  author    = {Li, Nathaniel and Pan, Alexander and Gopal, Anjali and Yue, Summer and Berrios, Daniel and Gatti,
               Alice and others},
  booktitle = {International Conference on Machine Learning},
  year      = {2024},
  url       = {https://arxiv.org/abs/2403.03218}
}""",
}
#: Methods introduced as TOFU baselines cite the benchmark itself.
METHOD_CITATIONS["IdkNLL"] = TOFU


def citations_for(method: str | None) -> list[str]:
    """TOFU, OpenUnlearning, then the method's paper (each entry once).

    A method registered with a `citation` attribute on its MethodSpec supplies its own BibTeX; otherwise the table
    above is used, and a method in neither cites only the benchmark and the framework.
    """
    from hf_unlearn.methods import METHODS

    out = [TOFU, OPEN_UNLEARNING]
    paper = getattr(METHODS.get(method or ""), "citation", None) or METHOD_CITATIONS.get(method or "")
    if paper and paper not in out:
        out.append(paper)
    return out
