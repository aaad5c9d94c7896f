"""The YOLOX training loss: SimOTA label assignment, IoU loss on the boxes, binary cross-entropy on objectness and
classes, as published in Ge, Liu, Wang, Li, Sun, "YOLOX: Exceeding YOLO Series in 2021" (arXiv:2107.08430), and
as its reference implementation (Megvii-BaseDetection/YOLOX, yolox/models/yolo_head.py) computes it:

- the head's raw output is decoded on the grid (centre = (offset + cell) * stride, size = exp(log size) * stride);
- candidates of a ground-truth box are the anchor points within 1.5 strides of its centre (the geometry constraint);
- the pairwise cost is the class BCE of sqrt(class * objectness) + 3 * (-log IoU), with a prohibitive cost
  outside the candidates; each box takes its dynamic k (the sum of its top-10 IoUs, at least 1) cheapest anchors,
  an anchor claimed twice going to the box it costs least;
- losses, each divided by the number of matched anchors: 5 * (1 - IoU^2) on matched boxes, BCE of objectness
  against "matched" on every anchor, BCE of classes against the one-hot class times the matched IoU.

The L1 box loss the paper adds for the last 15 epochs without augmentation is off by default (`use_l1`), as in the
reference until then.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

CENTER_RADIUS = 1.5
CANDIDATE_TOPK = 10
IOU_WEIGHT = 5.0
COST_IOU_WEIGHT = 3.0
OUTSIDE_COST = 1e6


@dataclass
class LossParts:
    total: torch.Tensor
    iou: float
    obj: float
    cls: float
    l1: float
    matched: int  # anchors assigned to a box over the batch


def grid_of(sizes: list[tuple[int, int]], strides: tuple[int, ...], device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(cells, 2) cell column/row and (cells,) stride, in the head's order (strides ascending, rows major)."""
    grids, steps = [], []
    for (height, width), stride in zip(sizes, strides):
        rows, cols = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
        grids.append(torch.stack([cols.reshape(-1), rows.reshape(-1)], 1))
        steps.append(torch.full((height * width,), stride, device=device))
    return torch.cat(grids).float(), torch.cat(steps).float()


def box_iou_cxcywh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU (len(a), len(b)) of boxes given as centre x, centre y, width, height."""
    a1, a2 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b1, b2 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    inter = (torch.min(a2, b2) - torch.max(a1, b1)).clamp(min=0).prod(2)
    return inter / (a[:, None, 2:].prod(2) + b[None, :, 2:].prod(2) - inter + 1e-16)


def iou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - IoU^2 of matched pairs (the reference's IOUloss, loss_type "iou")."""
    tl = torch.max(pred[:, :2] - pred[:, 2:] / 2, target[:, :2] - target[:, 2:] / 2)
    br = torch.min(pred[:, :2] + pred[:, 2:] / 2, target[:, :2] + target[:, 2:] / 2)
    inter = (br - tl).clamp(min=0).prod(1) * (tl < br).all(1)
    iou = inter / (pred[:, 2:].prod(1) + target[:, 2:].prod(1) - inter + 1e-16)
    return 1 - iou ** 2


class YoloxLoss:
    """Loss of raw head outputs (N, cells, 5 + classes) - box offsets, log sizes, objectness and class logits -
    against per-image targets (n, 5): class id, centre x, centre y, width, height in input pixels."""

    def __init__(self, num_classes: int, input_size: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32),
                 use_l1: bool = False):
        width, height = input_size
        self.num_classes = num_classes
        self.use_l1 = use_l1
        self.grid, self.strides = grid_of([(height // s, width // s) for s in strides], strides)

    def decode(self, raw: torch.Tensor) -> torch.Tensor:
        """Boxes (N, cells, 4) centre x, centre y, width, height in input pixels."""
        stride = self.strides[None, :, None]
        return torch.cat([(raw[..., :2] + self.grid[None]) * stride, torch.exp(raw[..., 2:4]) * stride], -1)

    def __call__(self, raw: torch.Tensor, targets: list[torch.Tensor]) -> LossParts:
        boxes = self.decode(raw)
        obj_logits, cls_logits = raw[..., 4], raw[..., 5:]
        cls_targets, box_targets, l1_targets, obj_targets, fg_masks = [], [], [], [], []
        matched = 0
        for i, gt in enumerate(targets):
            if len(gt) == 0:
                fg = torch.zeros(raw.shape[1], dtype=torch.bool)
                cls_targets.append(raw.new_zeros((0, self.num_classes)))
                box_targets.append(raw.new_zeros((0, 4)))
                l1_targets.append(raw.new_zeros((0, 4)))
            else:
                with torch.no_grad():
                    fg, gt_index, ious = self.assign(gt, boxes[i].detach(), obj_logits[i].detach(), cls_logits[i].detach())
                gt_classes = gt[gt_index, 0].long()
                cls_targets.append(F.one_hot(gt_classes, self.num_classes).float() * ious[:, None])
                box_targets.append(gt[gt_index, 1:5])
                l1_targets.append(self.l1_target(gt[gt_index, 1:5], fg))
            matched += int(fg.sum())
            obj_targets.append(fg.float())
            fg_masks.append(fg)
        fg_all = torch.cat(fg_masks)
        num_fg = max(matched, 1)
        flat_boxes = boxes.reshape(-1, 4)
        loss_iou = iou_loss(flat_boxes[fg_all], torch.cat(box_targets)).sum() / num_fg
        loss_obj = F.binary_cross_entropy_with_logits(obj_logits.reshape(-1), torch.cat(obj_targets), reduction="sum") / num_fg
        loss_cls = F.binary_cross_entropy_with_logits(cls_logits.reshape(-1, self.num_classes)[fg_all],
                                                      torch.cat(cls_targets), reduction="sum") / num_fg
        loss_l1 = raw.new_zeros(())
        if self.use_l1:
            loss_l1 = F.l1_loss(raw[..., :4].reshape(-1, 4)[fg_all], torch.cat(l1_targets), reduction="sum") / num_fg
        total = IOU_WEIGHT * loss_iou + loss_obj + loss_cls + loss_l1
        return LossParts(total, loss_iou.item(), loss_obj.item(), loss_cls.item(), loss_l1.item(), matched)

    def l1_target(self, gt_boxes: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
        """The raw offsets and log sizes that would decode exactly to the matched boxes."""
        stride, grid = self.strides[fg][:, None], self.grid[fg]
        return torch.cat([gt_boxes[:, :2] / stride - grid, torch.log(gt_boxes[:, 2:] / stride + 1e-8)], 1)

    def assign(self, gt: torch.Tensor, boxes: torch.Tensor, obj_logits: torch.Tensor, cls_logits: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SimOTA: the anchors matched (mask over cells), the box each matched anchor takes (in mask order) and
        the IoU of its prediction with that box."""
        centres = (self.grid + 0.5) * self.strides[:, None]
        radius = CENTER_RADIUS * self.strides[None, :, None]
        near = ((centres[None] - gt[:, None, 1:3]).abs() < radius).all(2)   # (boxes, cells) geometry constraint
        candidates = near.any(0)
        geometry = near[:, candidates]
        ious = box_iou_cxcywh(gt[:, 1:5], boxes[candidates])
        one_hot = F.one_hot(gt[:, 0].long(), self.num_classes).float()
        scores = (cls_logits[candidates].sigmoid() * obj_logits[candidates, None].sigmoid()).sqrt()
        cls_cost = F.binary_cross_entropy(scores[None].expand(len(gt), -1, -1), one_hot[:, None].expand(-1, len(scores), -1),
                                          reduction="none").sum(-1)
        cost = cls_cost + COST_IOU_WEIGHT * -torch.log(ious + 1e-8) + OUTSIDE_COST * (~geometry)
        matching = torch.zeros_like(cost, dtype=torch.bool)
        top_ious, _ = torch.topk(ious, min(CANDIDATE_TOPK, ious.shape[1]), dim=1)
        dynamic_ks = top_ious.sum(1).int().clamp(min=1)
        for g in range(len(gt)):
            _, cheapest = torch.topk(cost[g], int(min(dynamic_ks[g], cost.shape[1])), largest=False)
            matching[g, cheapest] = True
        shared = matching.sum(0) > 1
        if shared.any():
            best = cost[:, shared].argmin(0)
            matching[:, shared] = False
            matching[best, shared.nonzero()[:, 0]] = True
        taken = matching.any(0)
        fg = candidates.clone()
        fg[candidates] = taken
        gt_index = matching[:, taken].float().argmax(0)
        matched_ious = (matching.float() * ious).sum(0)[taken]
        return fg, gt_index, matched_ious
